// Package compat holds no code: its tests load JetStream data written by
// earlier versions of timerd (testdata/) with the current one, so a change
// to the node or the store cannot silently strand a stored bucket.
package compat
