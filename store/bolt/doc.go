// Package bolt is steady's default durable store: one bbolt file in a
// state directory, which [Open] opens and a graph takes as its
// steady.Config.Store.
//
// It is a package of its own so that a program that keeps its graph in
// memory, or brings another [store.Store], does not link bbolt. Its errors
// wrap the sentinels of package store ([store.ErrCorrupt],
// [store.ErrVersion], [store.ErrShape], [store.ErrLocked]), which
// errors.Is matches whichever store returned them.
package bolt
