package steady_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/steady-go/steady/store"
)

// memStore is a store.Store in memory, with the semantics of the bbolt one:
// a commit applies a whole batch or, if failNext is set, nothing. crash
// returns a copy of what is durable, as a process killed at that instant
// would leave it on disk.
type memStore struct {
	mu       sync.Mutex
	shape    *store.Shape
	states   map[string][]byte
	actors   map[string][]byte // histories
	heads    map[string]uint64
	attempts map[string]int
	msgs     map[string]map[uint64][]byte // channel → sequence → message
	dead     map[uint64]store.DeadLetter
	lastDL   uint64
	purged   uint64
	commits  int
	failNext error // the next commit fails with it
}

func newMemStore() *memStore {
	return &memStore{
		states: map[string][]byte{}, actors: map[string][]byte{}, heads: map[string]uint64{}, attempts: map[string]int{},
		msgs: map[string]map[uint64][]byte{}, dead: map[uint64]store.DeadLetter{},
	}
}

func (m *memStore) String() string { return "memory store" }

func (m *memStore) Load(shape store.Shape) (*store.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	img := &store.Image{States: map[string][]byte{}, Channels: map[string]*store.ChannelImage{}, Actors: map[string][]byte{}}
	if m.shape == nil {
		m.shape = &shape
		img.Fresh = true
		return img, nil
	}
	if fmt.Sprint(*m.shape) != fmt.Sprint(shape) {
		return nil, fmt.Errorf("%w: memory store: have %v, want %v", store.ErrShape, *m.shape, shape)
	}
	maps.Copy(img.States, m.states)
	maps.Copy(img.Actors, m.actors)
	for name, byseq := range m.msgs {
		ci := &store.ChannelImage{Head: m.heads[name], Attempts: m.attempts[name]}
		for seq := ci.Head; ; seq++ {
			b, ok := byseq[seq]
			if !ok {
				break
			}
			ci.Messages = append(ci.Messages, b)
		}
		if len(ci.Messages) != len(byseq) {
			return nil, fmt.Errorf("%w: channel %q has a gap", store.ErrCorrupt, name)
		}
		img.Channels[name] = ci
	}
	for name, h := range m.heads {
		if img.Channels[name] == nil {
			img.Channels[name] = &store.ChannelImage{Head: h, Attempts: m.attempts[name]}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.dead)) {
		img.DeadLetters = append(img.DeadLetters, m.dead[id])
	}
	img.LastDeadLetterID, img.PurgedDeadLetters = m.lastDL, m.purged
	return img, nil
}

func (m *memStore) Commit(b *store.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failNext; err != nil {
		m.failNext = nil
		return err
	}
	m.commits++
	for name, v := range b.States {
		m.states[name] = slices.Clone(v)
	}
	for name, v := range b.Actors {
		m.actors[name] = slices.Clone(v)
	}
	for _, a := range b.Appends {
		frames, err := store.Frames(a.Data, a.Count)
		if err != nil {
			return err
		}
		if m.msgs[a.Channel] == nil {
			m.msgs[a.Channel] = map[uint64][]byte{}
		}
		for i, f := range frames {
			m.msgs[a.Channel][a.First+uint64(i)] = slices.Clone(f)
		}
	}
	for name, h := range b.Heads {
		for seq := range m.msgs[name] {
			if seq < h {
				delete(m.msgs[name], seq)
			}
		}
		m.heads[name] = h
	}
	maps.Copy(m.attempts, b.Attempts)
	for _, d := range b.AddDeadLetters {
		m.dead[d.ID] = d
	}
	for _, id := range b.ReplayDeadLetters {
		if d, ok := m.dead[id]; ok {
			d.Replay = true
			m.dead[id] = d
		}
	}
	for _, id := range b.RemoveDeadLetters {
		delete(m.dead, id)
	}
	for _, id := range b.PurgeDeadLetters {
		if _, ok := m.dead[id]; ok {
			delete(m.dead, id)
			m.purged++
		}
	}
	m.lastDL = max(m.lastDL, b.LastDeadLetterID)
	return nil
}

// crash returns what a process killed now would leave durable.
func (m *memStore) crash() *memStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemStore()
	if m.shape != nil {
		s := *m.shape
		c.shape = &s
	}
	maps.Copy(c.states, m.states)
	maps.Copy(c.actors, m.actors)
	maps.Copy(c.heads, m.heads)
	maps.Copy(c.attempts, m.attempts)
	for name, byseq := range m.msgs {
		c.msgs[name] = maps.Clone(byseq)
	}
	maps.Copy(c.dead, m.dead)
	c.lastDL, c.purged = m.lastDL, m.purged
	return c
}
