package client

import (
	"context"
	"errors"
)

// The rating scales of Feedback.
const (
	ScaleThumbs = "thumbs" // -1 or +1
	ScaleStars  = "stars"  // 1 to 5
)

// ErrNothingToRate is Chat.Rate's error before any reply.
var ErrNothingToRate = errors.New("no reply to rate yet")

// Chat is a conversation with one model on the server. The caller keeps
// the history (it decides what a reset or a failed turn does to it); Chat
// sends the settings with every turn and remembers the last reply's
// response id, which is what the server captured and what a rating names.
// The zero value needs Client and Model set; it is not safe for
// concurrent use.
type Chat struct {
	Client      *Client
	Model       string
	MaxTokens   int
	Temperature float64
	Seed        *int64 // nil: the server picks

	lastID string
}

// Reply sends history (the whole conversation so far, ending with the
// user's turn) and streams the assistant's reply to onDelta, returning its
// text.
func (c *Chat) Reply(ctx context.Context, history []Message, onDelta func(string)) (string, error) {
	temp := c.Temperature
	res, err := c.Client.ChatStream(ctx, ChatRequest{Model: c.Model, Messages: history, MaxTokens: c.MaxTokens, Temperature: &temp, Seed: c.Seed}, onDelta)
	if err != nil {
		return "", err
	}
	c.lastID = res.ID
	return res.Text, nil
}

// Rate sends feedback on the last reply (see Client.Feedback for rating,
// scale and correction).
func (c *Chat) Rate(ctx context.Context, rating int, scale, correction string) error {
	if c.lastID == "" {
		return ErrNothingToRate
	}
	return c.Client.Feedback(ctx, c.lastID, rating, scale, correction)
}
