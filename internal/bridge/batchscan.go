package bridge

import (
	"bytes"
	"encoding/json"
)

// scanBatch decodes the plain shape of a batch, {"records":[{"key":…,"value":…,"headers":…,
// "partition":…},…]}, in one pass over the body: values are checked to be well-formed JSON by
// skipValue and kept as they are, the small fields are decoded by encoding/json. It reports
// false for anything else (an error, an unknown or repeated key, an escaped key, case-folded
// names, trailing data), and the caller then decodes with encoding/json, which finds the same
// records or names the error.
func scanBatch(body []byte) ([]batchRecord, bool) {
	s := scanner{b: body}
	s.space()
	if !s.consume('{') {
		return nil, false
	}
	var brs []batchRecord
	s.space()
	if s.consume('}') {
		return nil, s.end()
	}
	k, ok := s.key()
	if !ok || k != "records" {
		return nil, false
	}
	s.space()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
	} else {
		if !s.consume('[') {
			return nil, false
		}
		brs = []batchRecord{}
		s.space()
		if !s.consume(']') {
			for {
				s.space()
				br, ok := s.record()
				if !ok {
					return nil, false
				}
				brs = append(brs, br)
				s.space()
				if s.consume(']') {
					break
				}
				if !s.consume(',') {
					return nil, false
				}
			}
		}
	}
	s.space()
	if !s.consume('}') {
		return nil, false
	}
	return brs, s.end()
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// key reads a member name without escapes and the colon after it.
func (s *scanner) key() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) && s.b[s.i] != '"' {
		if c := s.b[s.i]; c == '\\' || c < 0x20 {
			return "", false
		}
		s.i++
	}
	if s.i == len(s.b) {
		return "", false
	}
	k := string(s.b[start:s.i])
	s.i++
	s.space()
	return k, s.consume(':')
}

// record reads one element of "records": null or an object with the four known members.
func (s *scanner) record() (batchRecord, bool) {
	var br batchRecord
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return br, true
	}
	if !s.consume('{') {
		return br, false
	}
	s.space()
	if s.consume('}') {
		return br, true
	}
	var seen [4]bool
	for {
		s.space()
		k, ok := s.key()
		if !ok {
			return br, false
		}
		s.space()
		start := s.i
		if !s.skipValue(0) {
			return br, false
		}
		raw := s.b[start:s.i]
		var field int
		var err error
		switch k {
		case "key":
			field, err = 0, json.Unmarshal(raw, &br.Key)
		case "value":
			field = 1
			br.Value = json.RawMessage(raw[:len(raw):len(raw)]) // the body outlives the record
		case "headers":
			field, err = 2, json.Unmarshal(raw, &br.Headers)
		case "partition":
			field, err = 3, json.Unmarshal(raw, &br.Partition)
		default:
			return br, false
		}
		if err != nil || seen[field] {
			return br, false
		}
		seen[field] = true
		s.space()
		if s.consume('}') {
			return br, true
		}
		if !s.consume(',') {
			return br, false
		}
	}
}

// maxDepth bounds nesting as encoding/json does (it refuses more than 10000 levels).
const maxDepth = 10000

// skipValue moves past one well-formed JSON value (RFC 8259), or reports false.
func (s *scanner) skipValue(depth int) bool {
	if depth > maxDepth || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.space()
		if s.consume('}') {
			return true
		}
		for {
			s.space()
			if !s.skipString() {
				return false
			}
			s.space()
			if !s.consume(':') {
				return false
			}
			s.space()
			if !s.skipValue(depth + 1) {
				return false
			}
			s.space()
			if s.consume('}') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		s.space()
		if s.consume(']') {
			return true
		}
		for {
			s.space()
			if !s.skipValue(depth + 1) {
				return false
			}
			s.space()
			if s.consume(']') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	case c == '"':
		return s.skipString()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.skipNumber()
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		s.i += len(lit)
		return true
	}
	return false
}

// skipString moves past a string: no control characters, only the escapes JSON defines.
// Invalid UTF-8 is accepted, as encoding/json accepts it.
func (s *scanner) skipString() bool {
	if !s.consume('"') {
		return false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for range 4 {
					if s.i >= len(s.b) || !isHex(s.b[s.i]) {
						return false
					}
					s.i++
				}
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipNumber moves past -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) skipNumber() bool {
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.consume('.') {
		if s.digits() == 0 {
			return false
		}
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
