package main

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy is a TCP proxy on loopback between serve and PostgreSQL or NATS,
// so the suite can cut the network: refuse and reset every connection,
// black-hole them (bytes go nowhere, nothing comes back, the client sees
// no error), or, for PostgreSQL, let a COMMIT reach the server and lose
// its answer, so the client cannot know the outcome.
type proxy struct {
	name   string
	ln     net.Listener
	target string
	mode   atomic.Int32
	arm    atomic.Int32 // a commitFault waiting for the next COMMIT
	fired  chan int32

	mu    sync.Mutex
	conns map[*pconn]bool

	accepted, refused, cut, hidden, dropped atomic.Int64
}

const (
	modeForward int32 = iota
	modeRefuse
	modeBlackhole
)

// Commit faults for PostgreSQL.
const (
	commitNone int32 = iota
	// commitHideReply forwards the COMMIT, swallows the server's answer
	// and then resets the connection: committed, but the client never
	// learns it.
	commitHideReply
	// commitDrop swallows the COMMIT itself and resets the connection:
	// the server rolls the transaction back.
	commitDrop
)

// commitQuery is the simple-protocol Query message pgx sends for
// tx.Commit: 'Q', length 11, "commit\x00".
var commitQuery = []byte("Q\x00\x00\x00\x0bcommit\x00")

type pconn struct {
	client, server net.Conn
	hole           atomic.Bool
	closed         atomic.Bool
}

func (c *pconn) close() {
	if c.closed.Swap(true) {
		return
	}
	if tc, ok := c.client.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, as a dead link or a firewall would give
	}
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
}

func newProxy(name, target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{name: name, ln: ln, target: target, conns: map[*pconn]bool{}, fired: make(chan int32, 8)}
	go p.accept()
	return p, nil
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		switch p.mode.Load() {
		case modeRefuse:
			p.refused.Add(1)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
			continue
		case modeBlackhole:
			pc := &pconn{client: c}
			pc.hole.Store(true)
			p.track(pc)
			go p.pump(pc, c, nil, true)
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.accepted.Add(1)
		pc := &pconn{client: c, server: s}
		p.track(pc)
		go p.pump(pc, c, s, true)
		go p.pump(pc, s, c, false)
	}
}

func (p *proxy) track(pc *pconn) {
	p.mu.Lock()
	p.conns[pc] = true
	p.mu.Unlock()
}

func (p *proxy) untrack(pc *pconn) {
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

// pump copies src to dst; fromClient is the client→server direction,
// where a COMMIT is looked for.
func (p *proxy) pump(pc *pconn, src, dst net.Conn, fromClient bool) {
	defer func() { pc.close(); p.untrack(pc) }()
	buf := make([]byte, 64<<10)
	var tail []byte // end of the previous read, for a pattern cut in two
	for {
		n, err := src.Read(buf)
		if n > 0 && !pc.hole.Load() && dst != nil {
			chunk := buf[:n]
			if fromClient && p.arm.Load() != commitNone {
				look := append(tail, chunk...)
				if i := bytes.Index(look, commitQuery); i >= 0 {
					if f := p.arm.Swap(commitNone); f != commitNone {
						p.commitFault(pc, dst, look, i, len(tail), f)
						continue
					}
				}
				if len(chunk) >= len(commitQuery) {
					tail = append(tail[:0], chunk[len(chunk)-len(commitQuery)+1:]...)
				} else {
					tail = append(tail, chunk...)
					if len(tail) > len(commitQuery) {
						tail = tail[len(tail)-len(commitQuery)+1:]
					}
				}
			}
			if _, werr := dst.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// commitFault handles an armed COMMIT found at look[i:] (look is the
// previous tail, tailLen bytes, followed by the new chunk).
func (p *proxy) commitFault(pc *pconn, server net.Conn, look []byte, i, tailLen int, f int32) {
	pc.hole.Store(true) // nothing more reaches the client from now on
	start := tailLen    // bytes of the new chunk not yet forwarded
	switch f {
	case commitHideReply:
		_, _ = server.Write(look[start:]) // the COMMIT reaches the server
		p.hidden.Add(1)
	case commitDrop:
		if i > start {
			_, _ = server.Write(look[start:i]) // what came before the COMMIT
		}
		p.dropped.Add(1)
	}
	go func() {
		time.Sleep(1500 * time.Millisecond) // long enough for the server to commit
		pc.close()
	}()
	select {
	case p.fired <- f:
	default:
	}
}

// armCommit makes the next COMMIT suffer f and waits up to timeout for it.
func (p *proxy) armCommit(f int32, timeout time.Duration) bool {
	for len(p.fired) > 0 {
		<-p.fired
	}
	p.arm.Store(f)
	select {
	case <-p.fired:
		return true
	case <-time.After(timeout):
		p.arm.Store(commitNone)
		return false
	}
}

// cutFor resets every connection and refuses new ones for d.
func (p *proxy) cutFor(d time.Duration) {
	p.mode.Store(modeRefuse)
	p.closeAll()
	p.cut.Add(1)
	time.Sleep(d)
	p.mode.Store(modeForward)
}

// blackholeFor lets nothing through in either direction for d, without
// closing anything, then resets those connections (a link that came back
// after the peers gave up on it) and forwards again.
func (p *proxy) blackholeFor(d time.Duration) {
	p.mode.Store(modeBlackhole)
	p.mu.Lock()
	for pc := range p.conns {
		pc.hole.Store(true)
	}
	p.mu.Unlock()
	time.Sleep(d)
	p.mode.Store(modeForward)
	p.mu.Lock()
	var holed []*pconn
	for pc := range p.conns {
		if pc.hole.Load() {
			holed = append(holed, pc)
		}
	}
	p.mu.Unlock()
	for _, pc := range holed {
		pc.close()
	}
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	all := make([]*pconn, 0, len(p.conns))
	for pc := range p.conns {
		all = append(all, pc)
	}
	p.mu.Unlock()
	for _, pc := range all {
		pc.close()
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.closeAll()
}
