// Command chat-client is a terminal client for the example chat backend: it
// connects through the cubeauth sidecar with a session token, prints every
// event it receives and sends each line typed on standard input.
//
// It exits 0 when standard input ends (it then closes the connection
// itself) or on Ctrl+C. When the other side ends the connection it says why
// and exits 1: the sidecar cuts the connection off when the session that
// opened it ends (logout, revocation, password change, user or app deleted).
//
//	go run ./examples/chat/cmd/chat-client -url ws://localhost:8080/chat -token "$TOKEN" -user-id 1
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/cubeauth/cubeauth/examples/chat"
)

func main() {
	rawURL := flag.String("url", "ws://localhost:8080/chat", "the chat's WebSocket URL on the sidecar")
	token := flag.String("token", os.Getenv("TOKEN"), "session token (default: $TOKEN)")
	userID := flag.String("user-id", "", "your user id; the sidecar refuses the connection if the token is another user's")
	flag.Parse()

	u, err := url.Parse(*rawURL)
	if err != nil {
		log.Fatalf("parsing -url: %v", err)
	}
	q := u.Query()
	q.Set("token", *token)
	if *userID != "" {
		q.Set("user_id", *userID)
	}
	u.RawQuery = q.Encode()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	conn, resp, err := websocket.Dial(ctx, u.String(), nil)
	if err != nil {
		// Never print the URL: it holds the token.
		if resp != nil {
			log.Fatalf("connecting: %s", resp.Status)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		log.Fatalf("connecting: %v", err)
	}
	defer conn.CloseNow()

	userDone := make(chan struct{}) // closed once we end the connection ourselves
	go func() {
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			if err := wsjson.Write(ctx, conn, chat.Post{Text: lines.Text()}); err != nil {
				return
			}
		}
		close(userDone)
		conn.Close(websocket.StatusNormalClosure, "bye")
	}()
	for {
		var ev chat.Event
		if err := wsjson.Read(ctx, conn, &ev); err != nil {
			select {
			case <-userDone:
				return
			default:
			}
			if ctx.Err() != nil {
				return // Ctrl+C
			}
			fmt.Fprintln(os.Stderr, closeReason(err))
			os.Exit(1)
		}
		switch ev.Type {
		case chat.TypeMessage:
			fmt.Printf("%s [%s]: %s\n", ev.From.Login, ev.From.ID, ev.Text)
		default:
			fmt.Printf("* %s %s [%s]\n", ev.Type, ev.User.Login, ev.User.ID)
		}
	}
}

// closeReason explains why the server side ended the connection.
func closeReason(err error) string {
	if status := websocket.CloseStatus(err); status != -1 {
		var ce websocket.CloseError
		errors.As(err, &ce)
		return fmt.Sprintf("connection closed by the server: %v %q", status, ce.Reason)
	}
	return fmt.Sprintf("connection closed by the server without a close message (%v): "+
		"the sidecar does that when the session ends (logout, revocation, password change, "+
		"user or app deleted), or the backend went away", err)
}
