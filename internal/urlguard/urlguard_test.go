package urlguard

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	adobe := New(Config{})
	local := New(Config{AllowedHosts: []string{"127.0.0.1", "localhost"}, AllowHTTP: true,
		AllowPrivate: true})
	strictLocal := New(Config{AllowedHosts: []string{"127.0.0.1", "10.0.0.5"}, AllowHTTP: true})
	tests := []struct {
		name  string
		guard *Guard
		url   string
		ok    bool
	}{
		{"an Adobe https URL passes", adobe, "https://adobe.com/callback/abc", true},
		{"a subdomain of an allowed domain passes", adobe, "https://b2b.adobe.io/cb", true},
		{"upper case and a trailing dot pass", adobe, "https://API.Adobe.com./cb", true},
		{"plain http is refused", adobe, "http://adobe.com/cb", false},
		{"another scheme is refused", adobe, "ftp://adobe.com/cb", false},
		{"a foreign host is refused", adobe, "https://example.com/cb", false},
		{"a look-alike suffix is refused", adobe, "https://notadobe.com/cb", false},
		{"an allowed name as a prefix is refused", adobe, "https://adobe.com.example.net/cb", false},
		{"credentials in the URL are refused", adobe, "https://user:pw@adobe.com/cb", false},
		{"no host is refused", adobe, "https:///cb", false},
		{"garbage is refused", adobe, "::not a url", false},
		{"loopback passes when private addresses are allowed", local, "http://127.0.0.1:8089/cb",
			true},
		{"loopback is refused when private addresses are not", strictLocal,
			"http://127.0.0.1:8089/cb", false},
		{"a private literal is refused", strictLocal, "http://10.0.0.5/cb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.guard.Check(tt.url)
			if (err == nil) != tt.ok {
				t.Fatalf("Check(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Errorf("error %v does not wrap ErrRefused", err)
			}
		})
	}
}

func TestControlRefusesForbiddenAddresses(t *testing.T) {
	t.Parallel()
	g := New(Config{})
	refused := []string{"127.0.0.1:443", "[::1]:443", "10.1.2.3:443", "172.16.0.1:443",
		"192.168.1.1:443", "169.254.169.254:80", "[fe80::1]:443", "0.0.0.0:443",
		"100.64.0.1:443", "[fd00:ec2::254]:80", "[::ffff:127.0.0.1]:443", "224.0.0.1:443"}
	for _, addr := range refused {
		if err := g.Control("tcp", addr, nil); !errors.Is(err, ErrRefused) {
			t.Errorf("Control(%s) = %v, want refused", addr, err)
		}
	}
	for _, addr := range []string{"192.150.16.1:443", "[2600:1f18::1]:443"} {
		if err := g.Control("tcp", addr, nil); err != nil {
			t.Errorf("Control(%s) = %v, want allowed", addr, err)
		}
	}
	if err := New(Config{AllowPrivate: true}).Control("tcp", "127.0.0.1:80", nil); err != nil {
		t.Errorf("AllowPrivate still refuses loopback: %v", err)
	}
}
