// Reads a lorafarm database through the SQLite C API alone, so the acceptance
// checks do not rely on schema::Store to report on the file it wrote.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lorafarm::testing {

class SqliteReader {
 public:
  using Row = std::vector<std::string>;

  // Opens `file` read-only; a missing file is an error, not a new database.
  explicit SqliteReader(const std::filesystem::path& file) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK) throw std::runtime_error("cannot open " + file.string() + ": " + sqlite3_errstr(rc));
    sqlite3_busy_timeout(raw, 5000);
  }

  // Every row of `sql`, each column as text ("NULL" for SQL NULL).
  std::vector<Row> rows(const std::string& sql) const {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
      throw std::runtime_error("SQL error in '" + sql + "': " + sqlite3_errmsg(db_.get()));
    const std::unique_ptr<sqlite3_stmt, Finalize> statement(raw);
    std::vector<Row> out;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      Row row;
      for (int c = 0; c < sqlite3_column_count(raw); ++c) {
        const auto* text = sqlite3_column_text(raw, c);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
      }
      out.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) throw std::runtime_error("SQL error in '" + sql + "': " + sqlite3_errmsg(db_.get()));
    return out;
  }

  // The first column of the first row ("" when there is no row).
  std::string scalar(const std::string& sql) const {
    const auto all = rows(sql);
    return all.empty() || all[0].empty() ? "" : all[0][0];
  }
  std::int64_t integer(const std::string& sql) const { return std::stoll(scalar(sql)); }
  double real(const std::string& sql) const { return std::stod(scalar(sql)); }

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close(db); }
  };
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3, Close> db_;
};

}  // namespace lorafarm::testing
