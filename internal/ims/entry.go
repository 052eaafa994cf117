package ims

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// TokenKeySize is the length of the AES-256 key that encrypts cached tokens.
const TokenKeySize = 32

// token is an access token with what the cache needs to know of it.
type token struct {
	value string
	// fp identifies the token without revealing it.
	fp        string
	expiry    time.Time
	refreshAt time.Time
	// shield is when a token fetched to replace one that drew a 401 may
	// itself be dropped after a 401; zero for other tokens.
	shield time.Time
}

// fingerprint identifies a token in the cache and in compare-and-delete
// without revealing it: a token carries far too much entropy to be found
// from its hash.
func fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:16])
}

// usable reports whether the token may still be sent. It stops a little
// before expiry, so that a callback in flight does not carry a token that
// dies on the way, but never before the refresh point.
func (t *token) usable(now time.Time) bool {
	leeway := min(5*time.Second, t.expiry.Sub(t.refreshAt)/2)
	return now.Before(t.expiry.Add(-leeway))
}

// fresh reports whether the token is usable and not yet due for refresh.
func (t *token) fresh(now time.Time) bool {
	return t.usable(now) && now.Before(t.refreshAt)
}

// entry is a token as stored in Redis, as JSON. Times are Unix
// milliseconds. Exactly one of Token and Sealed is set.
type entry struct {
	FP        string `json:"fp"`
	Expiry    int64  `json:"exp"`
	RefreshAt int64  `json:"ref"`
	Shield    int64  `json:"shield,omitempty"`
	Token     string `json:"tok,omitempty"`
	// Sealed is the token encrypted with AES-GCM: nonce then ciphertext,
	// base64.
	Sealed string `json:"sealed,omitempty"`
}

// codec turns tokens into Redis values and back, encrypting them when it
// has a key.
type codec struct {
	aead cipher.AEAD
}

// newCodec returns a codec; a nil key stores tokens in clear.
func newCodec(key []byte) (*codec, error) {
	if key == nil {
		return &codec{}, nil
	}
	if len(key) != TokenKeySize {
		return nil, fmt.Errorf("token key is %d bytes, want %d", len(key), TokenKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("set up token encryption: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("set up token encryption: %w", err)
	}
	return &codec{aead: aead}, nil
}

// additionalData binds a sealed token to its Redis key and to the clear
// fields beside it, so none of them can be swapped or altered unnoticed.
func additionalData(key string, e *entry) []byte {
	return fmt.Appendf(nil, "%s|%s|%d|%d|%d", key, e.FP, e.Expiry, e.RefreshAt, e.Shield)
}

// encode returns the Redis value of t stored under key.
func (c *codec) encode(key string, t *token) ([]byte, error) {
	e := entry{FP: t.fp, Expiry: t.expiry.UnixMilli(), RefreshAt: t.refreshAt.UnixMilli()}
	if !t.shield.IsZero() {
		e.Shield = t.shield.UnixMilli()
	}
	if c.aead == nil {
		e.Token = t.value
	} else {
		nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(t.value)+c.aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("make nonce: %w", err)
		}
		sealed := c.aead.Seal(nonce, nonce, []byte(t.value), additionalData(key, &e))
		e.Sealed = base64.StdEncoding.EncodeToString(sealed)
	}
	return json.Marshal(e)
}

// Errors of decode; none of them carries the token.
var (
	errNotSealed   = errors.New("cached token is not encrypted but a key is configured")
	errSealed      = errors.New("cached token is encrypted but no key is configured")
	errUnsealable  = errors.New("cached token does not decrypt with the configured key")
	errFingerprint = errors.New("cached token does not match its fingerprint")
)

// decode reads the Redis value stored under key.
func (c *codec) decode(key string, data []byte) (*token, error) {
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode cached token: %w", err)
	}
	value := e.Token
	switch {
	case c.aead != nil && e.Sealed == "":
		return nil, errNotSealed
	case c.aead == nil && e.Sealed != "":
		return nil, errSealed
	case c.aead != nil:
		sealed, err := base64.StdEncoding.DecodeString(e.Sealed)
		if err != nil || len(sealed) < c.aead.NonceSize() {
			return nil, errUnsealable
		}
		n := c.aead.NonceSize()
		plain, err := c.aead.Open(nil, sealed[:n], sealed[n:], additionalData(key, &e))
		if err != nil {
			return nil, errUnsealable
		}
		value = string(plain)
	}
	if value == "" || fingerprint(value) != e.FP {
		return nil, errFingerprint
	}
	t := &token{value: value, fp: e.FP, expiry: time.UnixMilli(e.Expiry),
		refreshAt: time.UnixMilli(e.RefreshAt)}
	if e.Shield != 0 {
		t.shield = time.UnixMilli(e.Shield)
	}
	return t, nil
}

// failure is a failed fetch as remembered in Redis, so that the other
// processes do not repeat it at once.
type failure struct {
	Temporary bool   `json:"temporary"`
	Code      string `json:"code,omitempty"`
	Status    int    `json:"status,omitempty"`
}

// errRecentFailure is the cause given when a fetch is skipped because one
// failed moments ago.
var errRecentFailure = errors.New("a token fetch failed moments ago; not asking IMS again yet")

// decodeFailure reads a remembered failure into a FetchError for profile.
func decodeFailure(profile string, data []byte) *FetchError {
	var f failure
	if err := json.Unmarshal(data, &f); err != nil {
		f = failure{Temporary: true}
	}
	return &FetchError{Profile: profile, Temporary: f.Temporary, Code: f.Code, Status: f.Status,
		Err: errRecentFailure}
}

// encodeFailure is the Redis value remembering fe.
func encodeFailure(fe *FetchError) string {
	data, _ := json.Marshal(failure{Temporary: fe.Temporary, Code: fe.Code, Status: fe.Status})
	return string(data)
}

// ParseTokenKey reads an AES-256 key given in base64 (standard or URL
// alphabet, padded or not). Its errors never repeat the key.
func ParseTokenKey(text string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(text)
		if err != nil {
			continue
		}
		if len(key) != TokenKeySize {
			return nil, fmt.Errorf("key is %d bytes, want %d (AES-256); make one with "+
				"`openssl rand -base64 32`", len(key), TokenKeySize)
		}
		return key, nil
	}
	return nil, errors.New("key is not base64; make one with `openssl rand -base64 32`")
}

// unixMillis formats t for a Lua script argument.
func unixMillis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
