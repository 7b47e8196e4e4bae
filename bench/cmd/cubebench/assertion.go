package main

import (
	"fmt"
	"log"
	"math/rand/v2"
	"slices"
	"strings"
)

// assertionPadBytes is about an unbound assertion's size for the bench's
// identity (BenchmarkAssertion's header-bytes metric): B1p carries that
// many bytes in a header of no meaning, to price carrying them apart from
// the signing. The client sends it, so it crosses both hops (wrk to the
// proxy, the proxy to the backend) where the assertion crosses only the
// second: an upper bound.
const assertionPadBytes = 377

// assertionPhase settles whether the unbound assertion costs B1 more than
// 5% of its throughput: many short rounds of B1, B1a, B1p (B1 carrying a
// header as large as the assertion, on both hops), B1 once more (an A/A
// control, whose spread is the machine's noise) and B1b (bound), each
// compared with the B1 of its own round, with a bootstrap interval around
// each median.
func (b *bench) assertionPhase(c *caddyProc, token string) error {
	log.Printf("assertion phase")
	b.printf("## Signed assertion, paired with B1\n\n")
	b.printf("Load average before: %s\n\n", loadavg())
	byName := map[string]scenario{}
	for _, s := range b.proxyScenarios(c, token, true) {
		byName[s.name] = s
	}
	b1 := byName["B1"]
	padded, again := b1, b1
	padded.name, padded.what = "B1p", fmt.Sprintf("B1, the client sending a %d-byte header, forwarded (carrying it on both hops)", assertionPadBytes)
	padded.run.script += fmt.Sprintf("wrk.headers[\"X-Pad\"] = %s\n", luaString(strings.Repeat("p", assertionPadBytes)))
	again.name, again.what = "B1′", "B1 again (A/A control: the noise)"
	scenarios := []scenario{b1, byName["B1a"], padded, again, byName["B1b"]}
	results, cmdlines, err := b.sideBySide(c, scenarios)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.printf("Each ratio is the scenario's req/s over B1's in the same round; each CPU figure is Caddy's CPU per request minus B1's in the same round. Medians over %d rounds, with a 95%% bootstrap interval of the median.\n\n", len(results[0]))
	b.printf("| scenario | req/s ÷ B1 (median) | 95%% interval | CPU/request − B1's (median) | 95%% interval |\n")
	b.printf("|---|---:|---|---:|---|\n")
	for i, s := range scenarios[1:] {
		var ratios, cpu []float64
		for r, res := range results[i+1] {
			base := results[0][r]
			ratios = append(ratios, res.RPS()/base.RPS())
			cpu = append(cpu, float64(res.CPUPerRequest-base.CPUPerRequest)/1e3)
		}
		rlo, rhi := bootstrapMedian(rng, ratios)
		clo, chi := bootstrapMedian(rng, cpu)
		b.printf("| %s: %s | **%.3f** | %.3f – %.3f | **%+.1f µs** | %+.1f – %+.1f µs |\n", s.name, s.what,
			median(ratios), rlo, rhi, median(cpu), clo, chi)
	}
	b.printf("\n")
	b.throughputTable(scenarios, results)
	b.commands(scenarios, cmdlines)
	return nil
}

// bootstrapMedian is the 95% percentile interval of the median of v,
// over resamples of v drawn with replacement.
func bootstrapMedian(rng *rand.Rand, v []float64) (lo, hi float64) {
	const resamples = 10000
	meds := make([]float64, resamples)
	sample := make([]float64, len(v))
	for i := range meds {
		for j := range sample {
			sample[j] = v[rng.IntN(len(v))]
		}
		meds[i] = median(sample)
	}
	slices.Sort(meds)
	return meds[resamples*25/1000], meds[resamples*975/1000-1]
}
