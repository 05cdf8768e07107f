// The dashboard's one page, served at "/". It is written as plain files,
// dashboard/page/dashboard.{html,css,js}, which CMake inlines into one string
// at build time (the binary serves it with no files beside it). The page uses
// nothing beyond its own /api/ (no CDN, no fonts); it polls the API every
// second and redraws the trial table and the learning curves in place.
#include "dashboard/dashboard_server.h"

namespace lorafarm::dashboard {

namespace {
constexpr std::string_view kPage =
#include "lorafarm/dashboard_page.inc"
    ;
}  // namespace

std::string_view dashboard_page() { return kPage; }

}  // namespace lorafarm::dashboard
