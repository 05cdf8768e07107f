// Markdown and HTML renderings of a TextTable (report/text_table.h).
#include "report/text_table.h"

#include "report/svg_plot.h"

namespace lorafarm::report {
namespace {

std::string markdown_row(const std::vector<std::string>& cells) {
  std::string out = "|";
  for (const auto& text : cells) out += " " + text + " |";
  return out + "\n";
}

}  // namespace

std::string text_table_markdown(const TextTable& table) {
  if (table.rows.empty()) return "";
  std::string out = "\n#### " + table.title + "\n\n" + markdown_row(table.header) + "|";
  for (std::size_t i = 0; i < table.header.size(); ++i) out += i == 0 ? " --- |" : " ---: |";
  out += "\n";
  for (const auto& row : table.rows) out += markdown_row(row);
  return out + "\n" + table.note + "\n";
}

std::string text_table_html(const TextTable& table) {
  if (table.rows.empty()) return "";
  std::string out = "<h2>" + svg::escape(table.title) + "</h2>\n<div class=\"table-wrap\"><table class=\"" +
                    table.css_class + "\"><thead><tr>";
  for (const auto& title : table.header) out += "<th>" + svg::escape(title) + "</th>";
  out += "</tr></thead><tbody>";
  for (const auto& row : table.rows) {
    out += "<tr>";
    for (std::size_t i = 0; i < row.size(); ++i) out += (i == 0 ? "<td>" : "<td class=\"num\">") + svg::escape(row[i]) + "</td>";
    out += "</tr>";
  }
  return out + "</tbody></table></div>\n<p class=\"note\">" + svg::escape(table.note) + "</p>\n";
}

}  // namespace lorafarm::report
