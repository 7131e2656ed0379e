package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// loadClient is the load generator's HTTP/1.1 client for the REST publish cases, in the spirit
// of wrk: a bounded pool of keep-alive connections, each carrying one request at a time; the
// request is written as prebuilt bytes and the answer parsed only as far as its status line,
// Retry-After and Content-Length. net/http's client costs about as much CPU per request as the
// bridge itself (three goroutines and their hand-offs per request), and on 2 shared cores that
// CPU is taken from the bridge under test. Only what these cases need is supported: answers
// with a Content-Length or chunked (a non-2xx chunked body is not kept), no redirects, no TLS.
type loadClient struct {
	request []byte         // the whole request, headers and body
	idle    chan *loadConn // connections waiting for a request
	slots   chan struct{}  // one token per open connection, at most the pool size
	timeout time.Duration  // bound on one request, write to last byte of the answer
	dial    func() (net.Conn, error)
}

type loadConn struct {
	net.Conn
	r *bufio.Reader
}

// answer is what a request's caller learns: the status, Retry-After and the start of the body.
type answer struct {
	status     int
	retryAfter string
	body       []byte // the first 256 bytes of a non-2xx answer, for error messages
}

// newLoadClient prepares POST path with body and contentType to addr over at most conns
// connections.
func newLoadClient(addr, path, contentType string, body []byte, conns int) *loadClient {
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		path, addr, contentType, len(body))
	req.Write(body)
	return &loadClient{
		request: req.Bytes(), timeout: 30 * time.Second,
		idle: make(chan *loadConn, conns), slots: make(chan struct{}, conns),
		dial: func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) },
	}
}

// get takes an idle connection, or dials one while the pool has room, or waits for one.
func (c *loadClient) get() (*loadConn, error) {
	select {
	case lc := <-c.idle:
		return lc, nil
	default:
	}
	select {
	case lc := <-c.idle:
		return lc, nil
	case c.slots <- struct{}{}:
		conn, err := c.dial()
		if err != nil {
			<-c.slots
			return nil, err
		}
		return &loadConn{Conn: conn, r: bufio.NewReaderSize(conn, 4096)}, nil
	}
}

// drop closes a connection that failed or that the server is closing, freeing its slot.
func (c *loadClient) drop(lc *loadConn) {
	_ = lc.Close()
	<-c.slots
}

// close closes the idle connections.
func (c *loadClient) close() {
	for {
		select {
		case lc := <-c.idle:
			c.drop(lc)
		default:
			return
		}
	}
}

// do sends the request once and reads the whole answer.
func (c *loadClient) do() (answer, error) {
	lc, err := c.get()
	if err != nil {
		return answer{}, err
	}
	a, keep, err := lc.roundTrip(c.request, c.timeout)
	if err != nil || !keep {
		c.drop(lc)
		return a, err
	}
	c.idle <- lc
	return a, nil
}

// post is do for the publish cases: anything but 200 is an error naming the answer.
func (c *loadClient) post() error {
	a, err := c.do()
	if err != nil {
		return err
	}
	if a.status != 200 {
		return fmt.Errorf("status %d: %.200s", a.status, a.body)
	}
	return nil
}

var errBadAnswer = errors.New("malformed HTTP answer")

// roundTrip writes req and reads one answer; keep says whether the connection may be reused.
func (lc *loadConn) roundTrip(req []byte, timeout time.Duration) (a answer, keep bool, err error) {
	if err := lc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return a, false, err
	}
	if _, err := lc.Write(req); err != nil {
		return a, false, err
	}
	line, err := lc.r.ReadSlice('\n')
	if err != nil {
		return a, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return a, false, fmt.Errorf("%w: status line %q", errBadAnswer, line)
	}
	if a.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return a, false, fmt.Errorf("%w: status line %q", errBadAnswer, line)
	}
	length, keep, chunked := -1, true, false
	for {
		h, err := lc.r.ReadSlice('\n')
		if err != nil {
			return a, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return a, false, fmt.Errorf("%w: header %q", errBadAnswer, h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return a, false, fmt.Errorf("%w: Content-Length %q", errBadAnswer, value)
			}
		case bytes.EqualFold(name, []byte("Retry-After")):
			a.retryAfter = string(value)
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return a, false, fmt.Errorf("%w: Transfer-Encoding %q is not supported by the load client", errBadAnswer, value)
			}
			chunked = true
		}
	}
	if chunked {
		// A long answer (a batch's results) comes in chunks: only its end matters here.
		if err := lc.skipChunks(); err != nil {
			return a, false, err
		}
		return a, keep, nil
	}
	if length < 0 {
		return a, false, fmt.Errorf("%w: no Content-Length", errBadAnswer)
	}
	head := 0
	if a.status/100 != 2 { // keep the start of a refusal for the error message
		head = min(length, 256)
		a.body = make([]byte, head)
		if _, err := io.ReadFull(lc.r, a.body); err != nil {
			return a, false, err
		}
	}
	if _, err := lc.r.Discard(length - head); err != nil {
		return a, false, err
	}
	return a, keep, nil
}

// skipChunks reads a chunked body to its end, discarding it (and any trailers).
func (lc *loadConn) skipChunks() error {
	for {
		line, err := lc.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		sizeText, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := strconv.ParseInt(string(sizeText), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: chunk size %q", errBadAnswer, line)
		}
		if size == 0 {
			break
		}
		if _, err := lc.r.Discard(int(size) + 2); err != nil { // the chunk and its CRLF
			return err
		}
	}
	for { // trailers, up to the blank line
		line, err := lc.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}
