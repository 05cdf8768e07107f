#include "coordinator/peer_routes.h"

namespace lorafarm::coordinator {

bool PeerRoutes::speaks_for(std::string_view route, std::string_view worker_id) {
  if (route == worker_id) return true;
  return route.size() > worker_id.size() + 1 && route.substr(0, worker_id.size()) == worker_id && route[worker_id.size()] == '~';
}

std::string PeerRoutes::worker_of(const std::string& route) const {
  const auto it = worker_by_route_.find(route);
  return it == worker_by_route_.end() ? route : it->second;
}

std::string PeerRoutes::route_of(const std::string& worker) const {
  const auto it = route_by_worker_.find(worker);
  return it == route_by_worker_.end() ? worker : it->second;
}

void PeerRoutes::bind(const std::string& route, const std::string& worker) {
  // The route may have spoken for another worker before (a misconfigured
  // peer changing its id): that binding ends too.
  if (const auto old = worker_by_route_.find(route); old != worker_by_route_.end()) {
    route_by_worker_.erase(old->second);
    worker_by_route_.erase(old);
  }
  if (const auto old = route_by_worker_.find(worker); old != route_by_worker_.end()) {
    worker_by_route_.erase(old->second);
    old->second = route;
  } else {
    route_by_worker_.emplace(worker, route);
  }
  worker_by_route_[route] = worker;
}

void PeerRoutes::forget(const std::string& worker) {
  const auto it = route_by_worker_.find(worker);
  if (it == route_by_worker_.end()) return;
  worker_by_route_.erase(it->second);
  route_by_worker_.erase(it);
}

}  // namespace lorafarm::coordinator
