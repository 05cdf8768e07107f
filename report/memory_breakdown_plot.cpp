// The memory breakdown as stacked horizontal bars, one per method: the
// engine's categories on a common MB axis, with the process's peak RSS
// written beside each bar (it is mostly fixed overhead on small models, so
// drawing it would hide the differences the categories show).
#include <algorithm>

#include "report/memory_breakdown.h"
#include "report/svg_plot.h"
#include "schema/memory_metrics.h"

namespace lorafarm::report::plot {
namespace {

constexpr double kLeft = 96, kRight = 250, kTop = 34, kRowHeight = 30, kBarHeight = 18;

std::string category_colour(std::size_t index) {
  return svg::ramp_colour(static_cast<double>(index) / static_cast<double>(schema::memory_categories().size() - 1));
}

void draw_axis(svg::Svg& out, const svg::Scale& x, double y) {
  out.line(kLeft, y, out.width() - kRight, y, "currentColor", 1, "axis");
  for (const double tick : x.ticks(6)) {
    out.line(x(tick), y, x(tick), y + 4, "currentColor", 1, "axis");
    out.text(x(tick), y + 16, svg::format_number(tick), "middle", 10);
  }
  out.text((kLeft + out.width() - kRight) / 2, y + 32, "MB held by the engine (MiB)", "middle", 11);
}

void draw_bar(svg::Svg& out, const svg::Scale& x, const MemoryBreakdown& row, double y) {
  out.text(kLeft - 8, y + kBarHeight - 5, row.method, "end", 11);
  double start = 0;
  for (std::size_t i = 0; i < row.category_mb.size(); ++i) {
    const double v = row.category_mb[i];
    if (v <= 0) continue;
    const std::string tip = row.method + " (trial " + std::to_string(row.trial) + "): " + std::string(schema::memory_categories()[i].label) +
                            " " + svg::format_number(v) + " MB";
    out.rect(x(start), y, x(start + v) - x(start), kBarHeight, category_colour(i), "mark", tip);
    start += v;
  }
  std::string label = svg::format_number(row.held_mb()) + " MB held";
  if (row.peak_rss_mb) label += "; peak RSS " + svg::format_number(*row.peak_rss_mb) + " MB";
  out.text(x(start) + 6, y + kBarHeight - 5, label, "start", 10);
}

void draw_legend(svg::Svg& out, double y) {
  double x = kLeft;
  for (std::size_t i = 0; i < schema::memory_categories().size(); ++i) {
    const std::string label(schema::memory_categories()[i].label);
    const double width = 22 + 6.2 * static_cast<double>(label.size());
    if (x + width > out.width() - 10) {
      x = kLeft;
      y += 16;
    }
    out.rect(x, y - 9, 10, 10, category_colour(i), "legend");
    out.text(x + 14, y, label, "start", 10);
    x += width;
  }
}

}  // namespace

ReportPlot memory_breakdown(const ReportData& d) {
  ReportPlot plot{"memory-breakdown", "Memory by category, best trial per method",
                  "Stacked bars: the bytes the engine holds for each method's best trial (base weights, quantized weights, adapter "
                  "parameters, gradients, optimizer state, estimated activations, reference model). Beside each bar, the process's "
                  "peak RSS as the worker's wait4 measured it; the difference is code, allocator slack and buffers.",
                  "", false};
  const auto rows = memory_breakdowns(d);
  if (rows.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, "No method's best trial reported the engine's memory categories (command trials do not).");
    return plot;
  }
  double widest = 0;
  for (const auto& row : rows) widest = std::max(widest, row.held_mb());
  const double axis_y = kTop + kRowHeight * static_cast<double>(rows.size()) + 4;
  svg::Svg out(760, static_cast<int>(axis_y + 80), plot.title);
  out.text(out.width() / 2.0, 18, plot.title, "middle", 13, 0, "title");
  const svg::Scale x(0, widest > 0 ? widest * 1.02 : 1, kLeft, out.width() - kRight);
  for (std::size_t i = 0; i < rows.size(); ++i) draw_bar(out, x, rows[i], kTop + kRowHeight * static_cast<double>(i));
  draw_axis(out, x, axis_y);
  draw_legend(out, axis_y + 56);
  plot.svg = out.str();
  return plot;
}

}  // namespace lorafarm::report::plot
