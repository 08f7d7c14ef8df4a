package shard

// Listing walks the table in bounded steps: the driver calls Scan with
// the position the last call returned, taking and releasing the shard's
// lock around each call, so a list over millions of timers never holds up
// the shard's fires for more than one step.

// ScanStep is how many entries one Scan call looks at.
const ScanStep = 4096

// Scan looks at up to ScanStep entries from position from and hands fn the
// id of each stored timer (not fired) that has prefix and sorts after
// after. It returns the position to continue from, and false when the
// walk is done.
// The id handed to fn is only valid during the call.
func (s *Shard) Scan(from int, prefix, after string, fn func(id []byte)) (int, bool) {
	end := min(from+ScanStep, len(s.tab.ents))
	for i := from; i < end; i++ {
		e := &s.tab.ents[i]
		if e.loc == locFree || e.loc == locFired || e.seq == 0 {
			continue
		}
		id := s.tab.id(uint32(i))
		if len(id) < len(prefix) || string(id[:len(prefix)]) != prefix || string(id) <= after {
			continue
		}
		fn(id)
	}
	return end, end < len(s.tab.ents)
}
