package deadletter

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MergePatch applies a JSON merge patch (RFC 7386) to doc: members of a
// patch object replace or, when null, remove those of the document, and
// recursively so for nested objects; any other patch value replaces the
// document whole.
func MergePatch(doc, patch []byte) ([]byte, error) {
	var d, p any
	if err := decode(doc, &d); err != nil {
		return nil, fmt.Errorf("read document: %w", err)
	}
	if err := decode(patch, &p); err != nil {
		return nil, fmt.Errorf("read patch: %w", err)
	}
	return json.Marshal(merge(d, p))
}

func decode(data []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func merge(doc, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(d, k)
			continue
		}
		d[k] = merge(d[k], v)
	}
	return d
}
