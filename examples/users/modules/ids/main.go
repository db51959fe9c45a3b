// The users example's Go module: password hashing and a reachability probe, spoken over
// Gati's module protocol (docs/module-protocol.md): JSON-RPC 2.0 in 4-byte big-endian
// length-prefixed frames on stdin/stdout. It uses only Go's standard library.
//
// It declares no egress, so it runs in a network namespace with no interface up:
// try_connect proves that from the inside (the dial fails, even to 127.0.0.1).
package main

import (
	"bufio"
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

const version = "1.0.0"

type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
	Gati    *struct {
		DeadlineMs int64 `json:"deadline_ms"`
	} `json:"gati,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

var (
	out      = bufio.NewWriter(os.Stdout)
	outMu    sync.Mutex
	cancelMu sync.Mutex
	cancels  = map[string]context.CancelFunc{}
	inFlight sync.WaitGroup
)

func send(m message) {
	m.JSONRPC = "2.0"
	body, _ := json.Marshal(m)
	outMu.Lock()
	defer outMu.Unlock()
	var head [4]byte
	binary.BigEndian.PutUint32(head[:], uint32(len(body)))
	out.Write(head[:])
	out.Write(body)
	out.Flush()
}

func schema(t string) map[string]any { return map[string]any{"type": t} }

func param(name, t string) map[string]any { return map[string]any{"name": name, "schema": schema(t)} }

func handshake() any {
	return map[string]any{
		"name": "ids", "version": version, "protocol": 1,
		"methods": map[string]any{
			"hash_password":   map[string]any{"params": []any{param("password", "string"), param("salt", "string")}, "returns": schema("string")},
			"verify_password": map[string]any{"params": []any{param("password", "string"), param("hashed", "string")}, "returns": schema("boolean")},
			"try_connect":     map[string]any{"params": []any{param("address", "string")}, "returns": schema("string")},
			"sleep":           map[string]any{"params": []any{param("seconds", "number")}, "returns": schema("number")},
		},
	}
}

func hash(password, salt string) (string, error) {
	key, err := pbkdf2.Key(sha256.New, password, []byte(salt), 10000, 32)
	if err != nil {
		return "", err
	}
	return "pbkdf2-sha256$10000$" + salt + "$" + base64.RawStdEncoding.EncodeToString(key), nil
}

func call(ctx context.Context, method string, raw json.RawMessage) (any, *rpcError) {
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, &rpcError{-32602, "params must be an object"}
	}
	str := func(k string) (string, *rpcError) {
		v, ok := p[k].(string)
		if !ok {
			return "", &rpcError{-32602, fmt.Sprintf("%s must be a string", k)}
		}
		return v, nil
	}
	switch method {
	case "hash_password":
		pw, e := str("password")
		if e != nil {
			return nil, e
		}
		salt, e := str("salt")
		if e != nil {
			return nil, e
		}
		h, err := hash(pw, salt)
		if err != nil {
			return nil, &rpcError{-32000, err.Error()}
		}
		return h, nil
	case "verify_password":
		pw, e := str("password")
		if e != nil {
			return nil, e
		}
		hashed, e := str("hashed")
		if e != nil {
			return nil, e
		}
		var salt string
		var n int
		fmt.Sscanf(hashed, "pbkdf2-sha256$%d$", &n)
		parts := splitN(hashed, '$', 4)
		if len(parts) != 4 {
			return nil, &rpcError{-32602, "hashed is not a pbkdf2-sha256 hash"}
		}
		salt = parts[2]
		h, err := hash(pw, salt)
		if err != nil {
			return nil, &rpcError{-32000, err.Error()}
		}
		return h == hashed, nil
	case "try_connect":
		addr, e := str("address")
		if e != nil {
			return nil, e
		}
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "refused: " + err.Error(), nil
		}
		conn.Close()
		return "connected", nil
	case "sleep":
		s, ok := p["seconds"].(float64)
		if !ok {
			return nil, &rpcError{-32602, "seconds must be a number"}
		}
		if s <= 0 {
			return s, nil // no timer for a zero wait: the call is the protocol's round trip
		}
		select {
		case <-time.After(time.Duration(s * float64(time.Second))):
			return s, nil
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, &rpcError{-32001, "deadline exceeded"}
			}
			return nil, &rpcError{-32800, "cancelled"}
		}
	}
	return nil, &rpcError{-32601, "no method " + method}
}

// instant says whether a call answers without waiting (a zero sleep): the reader answers
// it itself, since handing it to a goroutine on another thread costs more than the call
// (~7 µs of a ~35 µs round trip). Every call that waits or computes gets its own
// goroutine, so it never holds up the calls behind it.
func instant(m message) bool {
	if m.Method != "sleep" {
		return false
	}
	var p struct {
		Seconds *float64 `json:"seconds"`
	}
	return json.Unmarshal(m.Params, &p) == nil && p.Seconds != nil && *p.Seconds <= 0
}

func splitN(s string, sep byte, n int) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s) && len(parts) < n-1; i++ {
		if s[i] == sep {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func serve(m message) {
	ctx, cancel := context.WithCancel(context.Background())
	if m.Gati != nil && m.Gati.DeadlineMs > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), time.Duration(m.Gati.DeadlineMs)*time.Millisecond)
	}
	key := string(m.ID)
	cancelMu.Lock()
	cancels[key] = cancel
	cancelMu.Unlock()
	defer func() {
		cancelMu.Lock()
		delete(cancels, key)
		cancelMu.Unlock()
		cancel()
	}()
	result, err := call(ctx, m.Method, m.Params)
	if err != nil {
		send(message{ID: m.ID, Error: err})
	} else {
		send(message{ID: m.ID, Result: result})
	}
}

func main() {
	in := bufio.NewReader(os.Stdin)
	for {
		var head [4]byte
		if _, err := io.ReadFull(in, head[:]); err != nil {
			inFlight.Wait() // stdin closed: finish the calls in flight, then exit
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head[:]))
		if _, err := io.ReadFull(in, body); err != nil {
			inFlight.Wait()
			return
		}
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			continue
		}
		switch m.Method {
		case "gati.handshake":
			send(message{ID: m.ID, Result: handshake()})
		case "gati.ping":
			send(message{ID: m.ID, Result: "pong"})
		case "gati.cancel":
			var p struct {
				ID json.RawMessage `json:"id"`
			}
			json.Unmarshal(m.Params, &p)
			cancelMu.Lock()
			if c, ok := cancels[string(p.ID)]; ok {
				c()
			}
			cancelMu.Unlock()
		default:
			if instant(m) {
				serve(m)
				continue
			}
			inFlight.Add(1)
			go func() { defer inFlight.Done(); serve(m) }()
		}
	}
}
