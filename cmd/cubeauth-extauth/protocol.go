package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ejabberd's external authentication protocol: each request and each reply is
// a frame of a 2-byte big-endian length followed by that many bytes. A request
// is "command:arg:arg…"; a reply is always 2 bytes, 0x0001 (yes) or 0x0000 (no).

// maxFrame is the largest payload a 2-byte length can announce.
const maxFrame = 1<<16 - 1

// Commands ejabberd sends.
const (
	cmdAuth        = "auth"        // auth:User:Server:Password
	cmdIsUser      = "isuser"      // isuser:User:Server
	cmdSetPass     = "setpass"     // setpass:User:Server:Password
	cmdTryRegister = "tryregister" // tryregister:User:Server:Password
	cmdRemoveUser  = "removeuser"  // removeuser:User:Server
	cmdRemoveUser3 = "removeuser3" // removeuser3:User:Server:Password
)

// request is one decoded ejabberd request.
type request struct {
	Command  string
	User     string
	Server   string
	Password string // auth, setpass, tryregister, removeuser3; may contain ':'
}

// String describes the request for logs, without its password. User and
// server come from the client: quoted, a CR or LF in one is shown escaped
// and cannot forge a log line.
func (r request) String() string {
	return fmt.Sprintf("%s %q@%q", r.Command, r.User, r.Server)
}

// errMalformed marks a request that does not follow the protocol; the
// adapter answers it with 0 and carries on.
var errMalformed = errors.New("malformed request")

// readFrame reads one length-prefixed frame. It returns io.EOF only when the
// stream ends cleanly between frames (ejabberd closed the port), and
// io.ErrUnexpectedEOF when it ends inside one.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// writeFrame writes payload as one length-prefixed frame, in one Write so a
// reply is never split.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload), maxFrame)
	}
	buf := make([]byte, 2+len(payload))
	binary.BigEndian.PutUint16(buf, uint16(len(payload)))
	copy(buf[2:], payload)
	_, err := w.Write(buf)
	return err
}

// writeResult writes ejabberd's reply: 1 for yes, 0 for no.
func writeResult(w io.Writer, ok bool) error {
	var v uint16
	if ok {
		v = 1
	}
	return writeFrame(w, binary.BigEndian.AppendUint16(nil, v))
}

// parseRequest decodes the payload of a request frame.
func parseRequest(payload []byte) (request, error) {
	cmd, rest, _ := strings.Cut(string(payload), ":")
	var fields int // after the command
	switch cmd {
	case cmdIsUser, cmdRemoveUser:
		fields = 2
	case cmdAuth, cmdSetPass, cmdTryRegister, cmdRemoveUser3:
		fields = 3
	default:
		// Name the command only if it looks like one: the payload might be
		// anything, and a log line must never show a password.
		if len(cmd) > 16 || strings.ContainsFunc(cmd, func(r rune) bool { return r < 'a' || r > 'z' }) {
			cmd = "?"
		}
		return request{Command: cmd}, fmt.Errorf("%w: unknown command %q", errMalformed, cmd)
	}
	// The password is last and may itself contain ':'.
	parts := strings.SplitN(rest, ":", fields)
	if len(parts) != fields || (fields == 2 && strings.Contains(parts[1], ":")) {
		return request{Command: cmd}, fmt.Errorf("%w: %s wants %d fields", errMalformed, cmd, fields)
	}
	req := request{Command: cmd, User: parts[0], Server: parts[1]}
	if fields == 3 {
		req.Password = parts[2]
	}
	return req, nil
}
