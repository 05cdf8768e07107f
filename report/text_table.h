// A titled table of text cells below a report section, written as Markdown
// or HTML: the first column is a label (left-aligned), the rest numbers
// (right-aligned), and a note follows the table.
#pragma once

#include <string>
#include <vector>

namespace lorafarm::report {

struct TextTable {
  std::string title;
  std::string css_class;  // the HTML table's class
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string note;
};

// "#### title", the table and the note; "" when the table has no rows.
std::string text_table_markdown(const TextTable& table);
// <h2>title</h2>, the table and the note (escaped); "" when it has no rows.
std::string text_table_html(const TextTable& table);

}  // namespace lorafarm::report
