//go:build race

package forest

// raceEnabled lets tests shrink their data under the race detector, which
// slows training about tenfold.
const raceEnabled = true
