// Which ZeroMQ connection speaks for which worker. Every connection of a
// worker has its own routing id, "<worker id>~<nonce>", and HELLO binds that
// route to the worker id; leases, the store and the logs only see worker ids.
//
// Why not reuse the worker id as the routing id and let ROUTER_HANDOVER move
// it to the newest connection: libzmq (4.3.4) then never closes the replaced
// connection (libzmq issues #3238 and #4407), so every worker restart left a
// socket in CLOSE_WAIT and its buffers in the coordinator: an fd and ~20 KB
// per restart, until the process ran out of descriptors.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace lorafarm::coordinator {

class PeerRoutes {
 public:
  // True when `route` may speak for `worker_id`: it is the id itself (older
  // workers, hand-written test peers) or the id followed by '~' and a nonce.
  static bool speaks_for(std::string_view route, std::string_view worker_id);

  // The worker a route is bound to; an unbound route stands for itself.
  std::string worker_of(const std::string& route) const;
  // The route of a worker's current connection; an unbound worker's id is
  // used as the route.
  std::string route_of(const std::string& worker) const;

  // Makes `route` the worker's connection, replacing the previous one.
  void bind(const std::string& route, const std::string& worker);
  void forget(const std::string& worker);

  std::size_t size() const { return route_by_worker_.size(); }

 private:
  std::map<std::string, std::string, std::less<>> worker_by_route_;
  std::map<std::string, std::string, std::less<>> route_by_worker_;
};

}  // namespace lorafarm::coordinator
