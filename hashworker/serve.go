package hashworker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cubeauth/cubeauth/authcore"
)

// A hash worker is a copy of the running executable started with workerEnv
// set: its process does nothing but derive argon2id keys, one at a time,
// for the process that started it. The environment variable is checked in
// init, so that any program linking this package (Caddy with the module, a
// test binary) can serve as its own worker without a command-line entry
// point of its own.
//
// Why a process: a hash needs tens of milliseconds of CPU and 19 MiB. Run in
// the proxy's process, it holds one of the Go scheduler's processors for
// that long, and its allocation starts a garbage collection whose
// stop-the-world waits for the hashing thread — so every proxied request
// stalls behind logins. A child process has its own scheduler and heap, and
// at the lowest CPU priority the kernel runs proxied requests first.
const (
	workerEnv   = "CUBEAUTH_HASH_WORKER"
	workerValue = "1"
)

// workerHello is the first thing a worker writes: it tells the parent
// that the child really is a hash worker speaking this protocol version (the
// executable may have been replaced by an upgrade since the parent started).
var workerHello = [8]byte{'c', 'b', 'h', 'a', 's', 'h', 0, 2}

// Request bounds. Salt and key lengths travel as one byte each; a worker
// refuses a longer password or out-of-range parameters, so a corrupt
// request cannot make it allocate without limit.
const (
	maxWorkerSalt     = authcore.MaxSaltLen
	maxWorkerKey      = authcore.MaxKeyLen
	maxWorkerPassword = 1 << 20
)

func init() {
	if os.Getenv(workerEnv) != workerValue {
		return
	}
	// A worker's input is the pipe from its parent. Anything else means the
	// variable leaked into an operator's environment: say so rather than
	// quietly not being Caddy.
	if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		fmt.Fprintf(os.Stderr, "%s=%s is meant for cubeauth's hash workers only; unset it\n", workerEnv, workerValue)
		os.Exit(2)
	}
	os.Exit(serve(os.Stdin, os.Stdout))
}

// request is one key derivation. The password never leaves the two
// processes' memory and the pipe between them.
type request struct {
	params   authcore.Argon2Params
	keyLen   uint32
	salt     []byte
	password []byte
}

// serve answers hash requests from in on out until in closes (the parent
// exited or stopped the worker). It returns the process exit code.
func serve(in io.Reader, out io.Writer) int {
	lowerProcessPriority()
	if _, err := out.Write(workerHello[:]); err != nil {
		return 1
	}
	for {
		// Unbuffered, so that no copy of the password stays behind in a
		// buffer once it is cleared.
		req, err := readRequest(in)
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "cubeauth hash worker: %v\n", err)
			return 2
		}
		var key []byte
		if req.foreign() {
			key = []byte{verifyForeign(req.password)}
		} else {
			key = req.params.IDKey(req.password, req.salt, req.keyLen)
		}
		clear(req.password)
		if _, err := out.Write(key); err != nil {
			return 1
		}
	}
}

// A foreign-hash verification (authcore.VerifyForeignHash) travels as a
// request with all-zero argon2 parameters, which no derivation has, key
// length 1, no salt, and "encoded hash NUL password" as the password; the
// answer is one byte, 1 for a match.
func (r request) foreign() bool {
	return r.params == (authcore.Argon2Params{}) && r.keyLen == 1 && len(r.salt) == 0
}

func foreignRequest(encoded string, password []byte) request {
	body := make([]byte, 0, len(encoded)+1+len(password))
	body = append(append(append(body, encoded...), 0), password...)
	return request{keyLen: 1, password: body}
}

func verifyForeign(body []byte) byte {
	encoded, password, ok := bytes.Cut(body, []byte{0})
	if !ok {
		return 0
	}
	if match, err := authcore.VerifyForeignHash(string(encoded), password); err == nil && match {
		return 1
	}
	return 0
}

// The request layout, big-endian:
//
//	u32 memory KiB, u32 time, u8 threads, u8 key length, u8 salt length,
//	u32 password length, salt, password
//
// The answer is the key: exactly key length bytes.
const requestHeader = 4 + 4 + 1 + 1 + 1 + 4

func appendRequest(b []byte, req request) []byte {
	b = binary.BigEndian.AppendUint32(b, req.params.MemoryKiB)
	b = binary.BigEndian.AppendUint32(b, req.params.Time)
	b = append(b, req.params.Threads, byte(req.keyLen), byte(len(req.salt)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(req.password)))
	b = append(b, req.salt...)
	return append(b, req.password...)
}

func readRequest(r io.Reader) (request, error) {
	var head [requestHeader]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return request{}, err
	}
	req := request{params: authcore.Argon2Params{
		MemoryKiB: binary.BigEndian.Uint32(head[0:]),
		Time:      binary.BigEndian.Uint32(head[4:]),
		Threads:   head[8],
	}}
	req.keyLen = uint32(head[9])
	saltLen, passwordLen := int(head[10]), binary.BigEndian.Uint32(head[11:])
	if !(req.params.Valid() || req.foreign()) || req.keyLen == 0 || passwordLen > maxWorkerPassword {
		return request{}, errors.New("malformed hash request")
	}
	body := make([]byte, saltLen+int(passwordLen))
	if _, err := io.ReadFull(r, body); err != nil {
		return request{}, fmt.Errorf("reading hash request: %w", noEOF(err))
	}
	req.salt, req.password = body[:saltLen], body[saltLen:]
	return req, nil
}

// noEOF turns an end of input in the middle of a message into an error that
// is not mistaken for a clean end.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
