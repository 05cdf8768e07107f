// Unicode normalization forms for tokenizer.json normalizers, by ICU, pinned
// to the Unicode version the tokenizers library normalizes with (9.0).
#pragma once

#include <string>
#include <string_view>

namespace lorafarm::engine::unicode {

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };

// Unicode version of the normalization: characters assigned later are left
// as they are and act as boundaries, as in a normalizer built from 9.0 data.
inline constexpr std::string_view kNormalizationVersion = "9.0";

// `text` in `form`. Invalid UTF-8 bytes are kept as they are; the valid runs
// between them are normalized on their own.
std::string normalize(std::string_view text, NormalForm form);

}  // namespace lorafarm::engine::unicode
