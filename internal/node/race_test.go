//go:build race

package node_test

// raceEnabled: the race detector is on (tests size their loads down).
const raceEnabled = true
