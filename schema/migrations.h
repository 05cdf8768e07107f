// The database schema as a list of forward migrations: migration i takes a
// database from user_version i-1 to i. A database newer than this build is
// refused rather than misread. docs/store.md describes the tables.
#pragma once

#include <span>
#include <string_view>

#include "schema/sqlite.h"

namespace lorafarm::schema {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

std::span<const Migration> migrations();
inline int latest_schema_version() { return static_cast<int>(migrations().size()); }

// Applies every migration above the database's user_version up to `target`
// (default: latest), each in its own transaction. Throws StoreError if the
// database is newer than this build.
void migrate(Database& db, int target = -1);

}  // namespace lorafarm::schema
