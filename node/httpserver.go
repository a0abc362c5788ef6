package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// The node's HTTP server bounds what one client can hold: how long it may
// take to send a request's headers (headerTimeout) and body
// (Limits.BodyTimeout, --body-timeout), how long an idle keep-alive
// connection stays open (Limits.IdleTimeout, --idle-timeout), and how many
// connections one address may have open at once (Limits.MaxConnsPerIP,
// --max-conns-per-ip). There is no overall write timeout, since a streamed
// response may rightly take many minutes.

// headerTimeout bounds the time to send the request line and headers.
const headerTimeout = 10 * time.Second

// Defaults of Limits (the serve flags').
const (
	DefaultBodyTimeout   = 30 * time.Second
	DefaultIdleTimeout   = 120 * time.Second
	DefaultMaxConnsPerIP = 64
)

// Limits are what one client may hold of the node's HTTP server; zero
// turns one off.
type Limits struct {
	BodyTimeout   time.Duration // to send a request body, from its headers
	IdleTimeout   time.Duration // an idle keep-alive connection stays open
	MaxConnsPerIP int           // connections one client may hold open at once
}

func newHTTPServer(h http.Handler, l Limits) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(h, l.BodyTimeout),
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       l.IdleTimeout,
	}
}

// bodyDeadline gives each request d to deliver its body, counted from
// when its headers were read. http.Server's ReadTimeout cannot do this
// alone: it also counts from the headers but is not lifted per request,
// and the point is a bound on the body, not on the response. So the
// deadline is set on the connection as the handler starts. Once the body
// has been read to its end, net/http itself clears the connection's read
// deadline (to watch for the client hanging up), so a stream that runs
// for minutes is not cut; a body that does not arrive in time fails its
// read, which the API answers with a 400 naming the timeout, and the
// connection is closed.
func bodyDeadline(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // a writer without deadlines (tests)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, timeout: d}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody says which limit a body that timed out ran into.
type deadlineBody struct {
	io.ReadCloser
	timeout time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("the request body did not arrive within %s (--body-timeout): %w", b.timeout, err)
	}
	return n, err
}

// limitConnsPerIP caps the connections one remote address may hold open
// at once at max. A connection over the cap gets a 503 with Retry-After
// and is closed without being served (so a flood of slow connections from
// one address cannot starve everyone else), and the log says so, at most
// once a second with the count. A client is what clientOf says: loopback
// counts like any client (64 is far above what local tools and tests open,
// and another local user is as much a client as a remote one), as one,
// whichever 127.x address it uses.
func limitConnsPerIP(ln net.Listener, max int, log *slog.Logger) net.Listener {
	if max <= 0 {
		return ln
	}
	return &perIPListener{Listener: ln, max: max, log: log, open: map[string]int{}, refusing: make(chan struct{}, 64)}
}

type perIPListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu      sync.Mutex
	open    map[string]int // connections open per address
	refused int            // since the last log line
	logged  time.Time
	// refusing bounds the refusals being written at once; beyond it a
	// connection is closed without a word.
	refusing chan struct{}
}

func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := remoteHost(c.RemoteAddr())
		l.mu.Lock()
		if l.open[host] >= l.max {
			l.refusedLocked(host)
			l.mu.Unlock()
			l.refuse(c)
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *perIPListener) refusedLocked(host string) {
	l.refused++
	if now := time.Now(); now.Sub(l.logged) >= time.Second {
		l.log.Warn("refused connections over the per-address limit (--max-conns-per-ip)",
			"remote_addr", host, "limit", l.max, "refused", l.refused)
		l.logged, l.refused = now, 0
	}
}

const refusalText = "too many connections from your address; retry in a moment\n"

var refusal = fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"+
	"Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(refusalText), refusalText)

// refuse answers 503 and closes c. The answer is written, and what the
// client sent read away (so closing does not reset the connection before
// the client reads the answer), with short deadlines, aside from the
// accept loop.
func (l *perIPListener) refuse(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := io.WriteString(c, refusal); err != nil {
			return
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

func (l *perIPListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

// countedConn gives its slot back once, when closed.
type countedConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// CloseWrite lets http.Server end a TCP connection gracefully.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// remoteHost is the client a connection counts against (clientOf).
func remoteHost(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return clientOf(tcp.IP)
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil {
		return clientOf(ip)
	}
	return host
}

// clientOf is the client a connection from ip counts against: one for
// the whole loopback range (every 127.x address is this machine), a /64
// for IPv6 (what one host or site is given), the address itself for IPv4.
func clientOf(ip net.IP) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.To4() != nil:
		return ip.String()
	default:
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
}
