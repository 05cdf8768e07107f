// Files and folders named on the command line must exist. A missing one is
// invalid input (exit 1, one line naming the option and the path), not a
// malformed command line (exit 2), so these checks run when the command runs
// instead of as CLI11 validators.
#pragma once

#include <string>
#include <string_view>

namespace lorafarm::cli {

// Throw std::runtime_error("--model /x: no such folder") unless `path` is a folder / a regular file.
// An empty path (an optional option not given) passes.
void require_folder(std::string_view option, const std::string& path);
void require_file(std::string_view option, const std::string& path);

}  // namespace lorafarm::cli
