// Fuzzes the sweep-spec parser and validator (JSON with comments, the search
// space, constraints, scheduler, trial kinds, placeholders). A valid spec must
// also hash (what resume compares).
#include <string_view>

#include "fuzz/fuzz_target.h"
#include "schema/sweep_spec.h"

LORAFARM_FUZZ_TARGET(sweep_spec) {
  using namespace lorafarm;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const schema::SweepSpec spec = schema::parse_sweep_spec(text, "/fuzz/specs", "fuzz.json");
    fuzz::check(spec.hash().size() == 64);
    fuzz::check(spec.space.dimensions() > 0);
    (void)spec.memory_limit_mb();
  } catch (const schema::SpecError&) {
    // the expected outcome for a bad spec
  }
  return 0;
}
