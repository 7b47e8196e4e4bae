package e2e

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cConn is an HTTP/2 connection with prior knowledge driven frame by
// frame, for orders of frames that net/http's client never sends on cue.
type h2cConn struct {
	t      *testing.T
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
}

func dialH2C(t *testing.T, addr string) *h2cConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &h2cConn{t: t, fr: http2.NewFramer(conn, conn)}
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// headers sends a HEADERS frame of name/value pairs on stream id.
func (c *h2cConn) headers(id uint32, endStream bool, pairs ...string) {
	c.t.Helper()
	c.encBuf.Reset()
	for i := 0; i < len(pairs); i += 2 {
		if err := c.enc.WriteField(hpack.HeaderField{Name: pairs[i], Value: pairs[i+1]}); err != nil {
			c.t.Fatal(err)
		}
	}
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: c.encBuf.Bytes(), EndHeaders: true, EndStream: endStream,
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *h2cConn) data(id uint32, endStream bool, b string) {
	c.t.Helper()
	if err := c.fr.WriteData(id, endStream, []byte(b)); err != nil {
		c.t.Fatal(err)
	}
}

// status reads frames until the response headers of stream id and returns
// their :status. A GOAWAY before them fails the test.
func (c *h2cConn) status(id uint32) int {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("reading stream %d's answer: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := c.fr.WriteSettingsAck(); err != nil {
					c.t.Fatal(err)
				}
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("the server sent GOAWAY (%v, last stream %d) before answering stream %d", f.ErrCode, f.LastStreamID, id)
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				n, err := strconv.Atoi(f.PseudoValue("status"))
				if err != nil {
					c.t.Fatal(err)
				}
				return n
			}
		}
	}
}
