package state

// CloseRedisClientFirst does Close's work in the order that used to lose a race: the store is marked
// closed and its client closed while done is still open, as when Watch's select sees the closed
// subscription before the closed done channel. finish closes done.
func CloseRedisClientFirst(s Store) (finish func(), err error) {
	r := s.(*redisStore)
	r.closed.Store(true)
	err = r.client.Close()
	return func() { close(r.done) }, err
}
