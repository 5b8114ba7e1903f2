package vault

import "sync"

// Followers of the custody chain (pipeline stages, the dashboard's live
// feed) are told after every commit that appended events, the way
// containerd's metadata store calls its mutation callbacks, so none of them
// polls the chain. The notice says only "the chain grew": each follower
// reads from its own cursor, which is what makes a missed or coalesced
// notice harmless.
type subscribers struct {
	mu    sync.Mutex
	next  int
	chans map[int]chan struct{}
}

// Subscribe returns a channel that receives after every committed
// transaction that appended custody events, and a function that ends the
// subscription. Notices coalesce: a subscriber still busy with earlier
// events finds one notice waiting, never a queue, and nothing blocks the
// writer.
func (v *Vault) Subscribe() (<-chan struct{}, func()) {
	s := &v.subs
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chans == nil {
		s.chans = map[int]chan struct{}{}
	}
	id := s.next
	s.next++
	s.chans[id] = ch
	return ch, func() {
		s.mu.Lock()
		delete(s.chans, id)
		s.mu.Unlock()
	}
}

// ChainReads is how many times the chain has been walked (Events) since the
// vault was opened: followers that are told of appends read it only when
// it grows, so an idle appliance reads it not at all.
func (v *Vault) ChainReads() uint64 { return v.chainReads.Load() }

// notifyAppended runs once the transaction that appended events has
// committed (bbolt's commit handlers run after the write lock is released,
// so a subscriber that reads at once sees the new events).
func (v *Vault) notifyAppended() {
	s := &v.subs
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.chans {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
