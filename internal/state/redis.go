package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts for the Redis client unless the URL sets its own
// (dial_timeout, read_timeout, write_timeout). They are short because a
// tracker keeps serving the last known state anyway; a slow answer is worth
// less than a quick retry.
const (
	redisDialTimeout  = 2 * time.Second
	redisReadTimeout  = 2 * time.Second
	redisWriteTimeout = 2 * time.Second
	// redisPingInterval is how long a silent subscription may stay silent
	// before it is pinged; a half-open connection (a partition rather than a
	// restart) is found within this plus the ping timeout.
	redisPingInterval = 2 * time.Second
	redisPingTimeout  = 2 * time.Second
	// redisSubscribeLoadTimeout bounds the read made when a subscription is
	// (re)established.
	redisSubscribeLoadTimeout = 3 * time.Second
)

// redisStore keeps the state under one key and publishes every save on a
// channel of the same name, so instances apply a change without polling.
type redisStore struct {
	client *redis.Client
	key    string
	log    *slog.Logger
	closing
}

func openRedis(rawURL string, log *slog.Logger) (*redisStore, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, badURL(rawURL, urlError(err))
	}
	q := u.Query()
	key, err := takeKey(q)
	if err != nil {
		return nil, badURL(rawURL, err.Error())
	}
	u.RawQuery = q.Encode()
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, badURL(rawURL, err.Error())
	}
	tune(q, tuning{&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries, &opt.DialerRetries, &opt.PoolSize, &opt.ContextTimeoutEnabled})
	return &redisStore{client: redis.NewClient(opt), key: key, log: log, closing: closing{done: make(chan struct{})}}, nil
}

// openSentinel opens a store on the primary that Redis Sentinel names, and follows it through
// failovers: redis+sentinel://[user:pass@]host:port[,host:port…]/MASTER[/DB][?key=NAME], or
// rediss+sentinel:// for TLS to the sentinels and the servers. The user and password are the Redis
// servers'; sentinels that require a password of their own take sentinel_username and
// sentinel_password parameters. go-redis's failover client asks the sentinels for the primary,
// and drops its connections when they announce a new one (+switch-master).
func openSentinel(rawURL string, log *slog.Logger) (*redisStore, error) {
	scheme, rest, _ := strings.Cut(rawURL, "://")
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	var user *url.Userinfo
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		// Parsed as a URL's, so that percent-escapes in a password mean what they do in redis://.
		u, err := url.Parse("redis://" + authority[:i+1] + "h")
		if err != nil {
			return nil, badURL(rawURL, urlError(err))
		}
		user, authority = u.User, authority[i+1:]
	}
	var sentinels []string
	for _, h := range strings.Split(authority, ",") {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			return nil, badURL(rawURL, fmt.Sprintf("sentinel address %q is not host:port (Sentinel's port is usually 26379)", h))
		}
		sentinels = append(sentinels, h)
	}
	parts := strings.Split(path, "/")
	if parts[0] == "" || len(parts) > 2 {
		return nil, badURL(rawURL, "the path must be /MASTER or /MASTER/DB, MASTER being the name the sentinels monitor")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badURL(rawURL, err.Error())
	}
	key, err := takeKey(q)
	if err != nil {
		return nil, badURL(rawURL, err.Error())
	}
	// Rewritten into the URL go-redis's ParseFailoverURL reads (its first host and userinfo are a
	// sentinel's, the others go in addr parameters), so that its option parsing and checks apply.
	fu := url.URL{Scheme: strings.TrimSuffix(strings.ToLower(scheme), "+sentinel"), Host: sentinels[0]}
	if len(parts) == 2 {
		fu.Path = "/" + parts[1]
	}
	if su, sp := q.Get("sentinel_username"), q.Get("sentinel_password"); su != "" || sp != "" {
		fu.User = url.UserPassword(su, sp)
	}
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	q.Set("master_name", parts[0])
	for _, h := range sentinels[1:] {
		q.Add("addr", h)
	}
	fu.RawQuery = q.Encode()
	opt, err := redis.ParseFailoverURL(fu.String())
	if err != nil {
		return nil, badURL(rawURL, err.Error())
	}
	if user != nil {
		opt.Username = user.Username()
		opt.Password, _ = user.Password()
	}
	tune(q, tuning{&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries, &opt.DialerRetries, &opt.PoolSize, &opt.ContextTimeoutEnabled})
	return &redisStore{client: redis.NewFailoverClient(opt), key: key, log: log, closing: closing{done: make(chan struct{})}}, nil
}

// urlError is err without the URL that url.Error repeats, password included.
func urlError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// takeKey removes the key parameter from q (go-redis rejects parameters it does not know).
func takeKey(q url.Values) (string, error) {
	vs, ok := q["key"]
	if !ok {
		return DefaultRedisKey, nil
	}
	if len(vs) != 1 || vs[0] == "" {
		return "", errors.New("key must be given once and not be empty")
	}
	q.Del("key")
	return vs[0], nil
}

// tuning points at the client options that tune sets, in a plain or a failover client's options.
type tuning struct {
	dial, read, write               *time.Duration
	maxRetries, dialerRetries, pool *int
	contextTimeout                  *bool
}

// tune sets the store's defaults where the URL's parameters q do not.
func tune(q url.Values, t tuning) {
	if !q.Has("dial_timeout") {
		*t.dial = redisDialTimeout
	}
	if !q.Has("read_timeout") {
		*t.read = redisReadTimeout
	}
	if !q.Has("write_timeout") {
		*t.write = redisWriteTimeout
	}
	// The tracker retries on its own schedule and serves the last known
	// state meanwhile; retries inside one call would only make a read during
	// an outage take seconds instead of failing at once.
	if !q.Has("max_retries") {
		*t.maxRetries = -1
	}
	*t.dialerRetries = 1
	// A state store sees a read every few seconds and a rare write; a small
	// pool also makes go-redis switch sooner to failing fast while Redis is
	// unreachable.
	if !q.Has("pool_size") {
		*t.pool = 4
	}
	// Let the tracker's per-call deadlines cut a hanging call short.
	*t.contextTimeout = true
}

func (r *redisStore) Load(ctx context.Context) (State, error) {
	if r.isClosed() {
		return State{}, ErrClosed
	}
	return r.decode(r.client.Get(ctx, r.key).Bytes())
}

// decode reads the result of a GET of the state's key.
func (r *redisStore) decode(b []byte, err error) (State, error) {
	if errors.Is(err, redis.Nil) {
		return State{}, nil // key never set: nobody has turned maintenance on
	}
	if err != nil {
		return State{}, fmt.Errorf("redis get %s: %w", r.key, err)
	}
	s, err := Decode(b)
	if err != nil {
		return State{}, fmt.Errorf("redis key %s: %w; fix or delete the key", r.key, err)
	}
	return s, nil
}

// setAndPublish queues the write of b and its notification, to run in one transaction.
func (r *redisStore) setAndPublish(ctx context.Context, b []byte) func(redis.Pipeliner) error {
	return func(p redis.Pipeliner) error {
		p.Set(ctx, r.key, b, 0)
		p.Publish(ctx, r.key, b)
		return nil
	}
}

func (r *redisStore) Save(ctx context.Context, s State) error {
	if r.isClosed() {
		return ErrClosed
	}
	b, err := Encode(s)
	if err != nil {
		return err
	}
	// One transaction, so that no reader sees the new value without the
	// notification being on its way, nor the other way round.
	_, err = r.client.TxPipelined(ctx, r.setAndPublish(ctx, b))
	if err != nil {
		return fmt.Errorf("redis set %s: %w", r.key, err)
	}
	return nil
}

// updateAttempts bounds the optimistic retries of Update: each failed attempt means another writer
// saved in between, which on a state changed by hand a few times a day does not happen twice.
const updateAttempts = 10

// Update implements Store with WATCH, GET and MULTI/EXEC: the transaction fails when another
// writer changed the key after the read, and fn runs again on the newer state.
func (r *redisStore) Update(ctx context.Context, fn func(State) (State, error)) (State, error) {
	if r.isClosed() {
		return State{}, ErrClosed
	}
	var saved State
	txf := func(tx *redis.Tx) error {
		cur, err := r.decode(tx.Get(ctx, r.key).Bytes())
		if err != nil {
			return err
		}
		s, err := fn(cur)
		if err != nil {
			return err
		}
		nb, err := Encode(s)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, r.setAndPublish(ctx, nb))
		saved = s
		return err
	}
	for range updateAttempts {
		err := r.client.Watch(ctx, txf, r.key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return State{}, err
		}
		return saved, nil
	}
	return State{}, fmt.Errorf("redis update %s: other writers changed the state %d times in a row; try again", r.key, updateAttempts)
}

// saveIfEmpty sets the key only when it does not exist, and notifies only then, in one step.
var saveIfEmpty = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('PUBLISH', KEYS[1], ARGV[1])
  return 1
end
return 0`)

// SaveIfEmpty implements Store.
func (r *redisStore) SaveIfEmpty(ctx context.Context, s State) (bool, error) {
	if r.isClosed() {
		return false, ErrClosed
	}
	b, err := Encode(s)
	if err != nil {
		return false, err
	}
	n, err := saveIfEmpty.Run(ctx, r.client, []string{r.key}, b).Int()
	if err != nil {
		return false, fmt.Errorf("redis set %s if absent: %w", r.key, err)
	}
	return n == 1, nil
}

// Watch relies on go-redis to redial and resubscribe after a lost
// connection. Messages published while the subscription was down are gone,
// so each (re)subscription is followed by a read: that repairs the gap as
// soon as Redis is back, without waiting for the tracker's periodic read.
func (r *redisStore) Watch(ctx context.Context, fn func(State)) error {
	if r.isClosed() {
		return ErrClosed
	}
	subCtx, cancel := context.WithTimeout(ctx, redisDialTimeout+redisWriteTimeout)
	// An error here (Redis down) is remembered by go-redis, which keeps
	// retrying in the channel's goroutine; the confirmation then arrives on ch.
	ps := r.client.Subscribe(subCtx, r.key)
	cancel()
	defer ps.Close() // ends go-redis's receive and health-check goroutines
	ch := ps.ChannelWithSubscriptions(
		redis.WithChannelHealthCheckInterval(redisPingInterval),
		redis.WithChannelPingTimeout(redisPingTimeout),
		// We drain ch until we return; a short send timeout only matters
		// if a message races with our return, so do not stall Close on it.
		redis.WithChannelSendTimeout(time.Second),
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.done:
			return ErrClosed
		case m, ok := <-ch:
			if !ok {
				// Close closes the client, which closes ch, after marking the store closed and
				// closing done; select may see ch first.
				if r.isClosed() {
					return ErrClosed
				}
				return errors.New("redis subscription closed")
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" {
					continue
				}
				lctx, cancel := context.WithTimeout(ctx, redisSubscribeLoadTimeout)
				s, err := r.Load(lctx)
				cancel()
				if err != nil {
					r.log.Debug("redis read after subscribing failed", "key", r.key, "error", err)
					continue
				}
				fn(s)
			case *redis.Message:
				s, err := Decode([]byte(m.Payload))
				if err != nil {
					r.log.Warn("ignoring unreadable state notification", "channel", m.Channel, "error", err)
					continue
				}
				fn(s)
			}
		}
	}
}

func (r *redisStore) Close() error {
	if err := r.close(); err != nil {
		return err
	}
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("close redis client: %w", err)
	}
	return nil
}

// RouteRedisLogs sends go-redis's own log lines (dial failures and the like)
// to log at debug level instead of unstructured to stderr. go-redis has one
// logger per process, so main calls this once; the tracker already reports
// what matters about the store's health.
func RouteRedisLogs(log *slog.Logger) {
	redis.SetLogger(redisLogger{log})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// historyKey is the stream that holds the history, beside the state's key.
func (r *redisStore) historyKey() string { return r.key + ":history" }

// Append implements Store. XADD with an approximate MAXLEN keeps the stream capped at about
// HistoryCap entries at no cost per append (Redis trims whole nodes); Redis assigns the ID, so IDs
// grow across every instance.
func (r *redisStore) Append(ctx context.Context, e Entry) (Entry, error) {
	if r.isClosed() {
		return Entry{}, ErrClosed
	}
	e.ID = ""
	b, err := encodeEntry(e)
	if err != nil {
		return Entry{}, err
	}
	id, err := r.client.XAdd(ctx, &redis.XAddArgs{
		Stream: r.historyKey(),
		MaxLen: HistoryCap,
		Approx: true,
		Values: []string{"entry", string(b)},
	}).Result()
	if err != nil {
		return Entry{}, fmt.Errorf("redis xadd %s: %w", r.historyKey(), err)
	}
	e.ID = id
	return e, nil
}

// History implements Store.
func (r *redisStore) History(ctx context.Context, q HistoryQuery) ([]Entry, error) {
	if r.isClosed() {
		return nil, ErrClosed
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	var (
		msgs []redis.XMessage
		err  error
	)
	switch {
	case q.After != "":
		msgs, err = r.client.XRange(ctx, r.historyKey(), "("+q.After, "+").Result()
	case q.Limit > 0 && q.Scope == "":
		msgs, err = r.client.XRevRangeN(ctx, r.historyKey(), "+", "-", int64(q.Limit)).Result()
		slices.Reverse(msgs)
	default:
		msgs, err = r.client.XRange(ctx, r.historyKey(), "-", "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("redis xrange %s: %w", r.historyKey(), err)
	}
	entries := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		v, _ := m.Values["entry"].(string)
		e, err := decodeEntry([]byte(v))
		if err != nil {
			r.log.Warn("skipping an unreadable history entry", "stream", r.historyKey(), "id", m.ID, "error", err)
			continue
		}
		e.ID = m.ID
		entries = append(entries, e)
	}
	return q.apply(entries), nil
}

// Claim implements Store with SET NX: Redis runs commands one at a time, so exactly one of the
// instances that race for a key gets it.
func (r *redisStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if r.isClosed() {
		return false, ErrClosed
	}
	ok, err := r.client.SetNX(ctx, r.key+":claim:"+key, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis set %s:claim:… if absent: %w", r.key, err)
	}
	return ok, nil
}
