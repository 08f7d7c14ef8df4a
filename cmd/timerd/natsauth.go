package main

import (
	"flag"
	"fmt"

	"github.com/nats-io/nats.go"
)

// natsAuth is how a NATS client of timerd proves who it is and checks the
// server: `timerd serve` connecting to --nats (or to its own embedded server
// when that asks for credentials) and every client subcommand. One type, so
// that both take the same flags, files and variables.
type natsAuth struct {
	creds, nkey            string // files
	user, password, token  string // secrets; the *File forms are read into them (resolveSecretFiles)
	passwordFile           string
	tokenFile              string
	tlsCert, tlsKey, tlsCA string
}

// register adds the authentication and TLS flags to fs, with help[name] as
// each one's usage.
func (a *natsAuth) register(fs *flag.FlagSet, help map[string]string) {
	fs.StringVar(&a.creds, "creds", "", help["creds"])
	fs.StringVar(&a.nkey, "nkey", "", help["nkey"])
	fs.StringVar(&a.user, "user", "", help["user"])
	fs.StringVar(&a.password, "password", "", help["password"])
	fs.StringVar(&a.passwordFile, "password-file", "", help["password-file"])
	fs.StringVar(&a.token, "token", "", help["token"])
	fs.StringVar(&a.tokenFile, "token-file", "", help["token-file"])
	fs.StringVar(&a.tlsCert, "tls-cert", "", help["tls-cert"])
	fs.StringVar(&a.tlsKey, "tls-key", "", help["tls-key"])
	fs.StringVar(&a.tlsCA, "tls-ca", "", help["tls-ca"])
}

// hasCredentials reports whether any way of authenticating was given.
func (a *natsAuth) hasCredentials() bool {
	return a.creds != "" || a.nkey != "" || a.user != "" || a.token != ""
}

// credentials answers the nats.go options that authenticate: the first of
// --creds, --nkey, --user/--password, --token that was given.
func (a *natsAuth) credentials() ([]nats.Option, error) {
	switch {
	case a.creds != "":
		return []nats.Option{nats.UserCredentials(a.creds)}, nil
	case a.nkey != "":
		o, err := nats.NkeyOptionFromSeed(a.nkey)
		if err != nil {
			return nil, fmt.Errorf("--nkey %q: %w", a.nkey, err)
		}
		return []nats.Option{o}, nil
	case a.user != "":
		return []nats.Option{nats.UserInfo(a.user, a.password)}, nil
	case a.token != "":
		return []nats.Option{nats.Token(a.token)}, nil
	}
	return nil, nil
}

// options answers the credentials and the TLS options: a client certificate
// (--tls-cert/--tls-key) and the CA that verifies the servers (--tls-ca).
func (a *natsAuth) options() ([]nats.Option, error) {
	opts, err := a.credentials()
	if err != nil {
		return nil, err
	}
	if a.tlsCert != "" || a.tlsKey != "" {
		opts = append(opts, nats.ClientCert(a.tlsCert, a.tlsKey))
	}
	if a.tlsCA != "" {
		opts = append(opts, nats.RootCAs(a.tlsCA))
	}
	return opts, nil
}
