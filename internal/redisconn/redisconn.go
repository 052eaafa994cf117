// Package redisconn turns a REDIS_URL into the connection options asynq and
// go-redis need, so every program reads the same URL the same way.
package redisconn

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Conn holds asynq's connection options and a go-redis client for the same
// server.
type Conn struct {
	// Opt is what asynq clients, servers and inspectors connect with.
	Opt asynq.RedisConnOpt
	// Client is a go-redis client for the dispatcher's own keys.
	Client redis.UniversalClient
}

// Parse reads a redis://, rediss:// or redis-sentinel:// URL.
func Parse(raw string) (*Conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: not a URL")
	}
	switch u.Scheme {
	case "redis", "rediss", "redis-sentinel":
	default:
		return nil, fmt.Errorf("parse REDIS_URL: scheme %q is not redis, rediss or redis-sentinel",
			u.Scheme)
	}
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		// asynq's message may echo the URL, password included.
		return nil, fmt.Errorf("parse REDIS_URL: %s", redact(err.Error(), u))
	}
	client, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("parse REDIS_URL: unsupported connection type")
	}
	return &Conn{Opt: opt, Client: client}, nil
}

// Redacted returns the URL without its password, for logs.
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

func redact(msg string, u *url.URL) string {
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// Close closes the go-redis client.
func (c *Conn) Close() error { return c.Client.Close() }
