package client

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
)

// ListOptions selects a page of timers. The zero value asks for the first
// page of all timers, of the server's default size (api.DefaultLimit).
type ListOptions struct {
	Prefix string // only ids starting with this
	Limit  int    // page size, at most api.MaxLimit; 0: the server's default
	Cursor string // NextCursor of the previous page; "": the first page
}

// List answers one page of timers ordered by id. Pass the reply's NextCursor
// as the next Cursor; it is empty on the last page.
func (c *Client) List(ctx context.Context, opts ListOptions) (api.ListReply, error) {
	var rep api.ListReply
	if opts.Limit < 0 {
		return rep, badRequest("list limit %d is negative; give 0 for the default or 1 to %d", opts.Limit, api.MaxLimit)
	}
	msg := nats.NewMsg(c.Subject(api.EndpointList))
	if opts.Prefix != "" {
		msg.Header.Set(api.HeaderPrefix, opts.Prefix)
	}
	if opts.Limit > 0 {
		msg.Header.Set(api.HeaderLimit, strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		msg.Header.Set(api.HeaderCursor, opts.Cursor)
	}
	err := c.call(ctx, msg, &rep)
	return rep, err
}

// ListAll calls fn for every timer whose id starts with prefix, in id order,
// following cursors page after page. It stops at the first error, from the
// server or from fn, and returns it as is.
//
//	err := c.ListAll(ctx, "order-", func(t api.Timer) error {
//		fmt.Println(t.ID, t.Next)
//		return nil
//	})
func (c *Client) ListAll(ctx context.Context, prefix string, fn func(api.Timer) error) error {
	opts := ListOptions{Prefix: prefix}
	for {
		page, err := c.List(ctx, opts)
		if err != nil {
			return err
		}
		for _, t := range page.Timers {
			if err := fn(t); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		if page.NextCursor == opts.Cursor {
			// A cursor that does not move would loop forever.
			return fmt.Errorf("timerd: list cursor %q did not advance", page.NextCursor)
		}
		opts.Cursor = page.NextCursor
	}
}
