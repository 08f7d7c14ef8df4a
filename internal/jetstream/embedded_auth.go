package jetstream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// OpenListenerError is the embedded server refusing a client address beyond
// loopback while it lets anyone in: whoever reaches the port could read,
// change or delete every timer, the KV stream included.
type OpenListenerError struct {
	Addr       string // host:port of the client listener
	NoAuthUser string // set when no_auth_user is what lets clients in without credentials
}

func (e *OpenListenerError) Error() string {
	why := "without authentication"
	if e.NoAuthUser != "" {
		why = fmt.Sprintf("while no_auth_user %q lets clients in without credentials", e.NoAuthUser)
	}
	return fmt.Sprintf("refusing to listen on %s %s: anyone who reaches it can delete every timer; "+
		"give --auth-token-file, --tls-cert/--tls-key with --tls-ca, or --nats-config with users, "+
		"or listen on 127.0.0.1, or pass --insecure to accept it", e.Addr, why)
}

// setAuth adds the token and TLS that cfg asks for to opts. Each may come
// from the flags or from the configuration file, not both: merging two
// descriptions of who may connect would leave one of them silently unused.
func setAuth(opts *server.Options, cfg EmbeddedConfig) error {
	if cfg.Token != "" {
		if asksCredentials(opts) {
			return fmt.Errorf("--auth-token-file and the users or authorization of --nats-config %q: give one of them", cfg.ConfigFile)
		}
		opts.Authorization = cfg.Token
	}
	if cfg.TLSCert == "" && cfg.TLSKey == "" && cfg.TLSCA == "" {
		return nil
	}
	if opts.TLSConfig != nil {
		return fmt.Errorf("--tls-cert/--tls-key/--tls-ca and the tls block of --nats-config %q: give one of them", cfg.ConfigFile)
	}
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return errors.New("--tls-cert and --tls-key: give both for the embedded server's TLS (and --tls-ca to require client certificates)")
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, CaFile: cfg.TLSCA, Verify: cfg.TLSCA != "",
	})
	if err != nil {
		return fmt.Errorf("--tls-cert %q, --tls-key %q, --tls-ca %q: %w", cfg.TLSCert, cfg.TLSKey, cfg.TLSCA, err)
	}
	opts.TLSConfig = tc
	opts.TLSVerify = cfg.TLSCA != ""
	return nil
}

// asksCredentials reports whether clients must bring credentials, as
// nats-server's configureAuthorization (auth.go) decides it.
func asksCredentials(opts *server.Options) bool {
	return opts.Authorization != "" || opts.Username != "" || len(opts.Users) > 0 || len(opts.Nkeys) > 0 ||
		len(opts.TrustedKeys) > 0 || len(opts.TrustedOperators) > 0 ||
		opts.CustomClientAuthentication != nil || opts.AuthCallout != nil
}

func verifiesClientCerts(opts *server.Options) bool {
	return opts.TLSConfig != nil && opts.TLSConfig.ClientAuth == tls.RequireAndVerifyClientCert
}

// NeedsCredentials reports whether a connection to a server started with
// opts must bring a user, token, nkey or JWT: the server asks for them and
// has no no_auth_user for those that bring none. Client certificates do not
// count: an in-process connection skips TLS.
func NeedsCredentials(opts *server.Options) bool {
	return opts.NoAuthUser == "" && asksCredentials(opts)
}

// anonymousAllowed reports whether a client with no credentials gets in: no
// authentication at all, or a no_auth_user that such clients become.
// Client certificates are checked before no_auth_user applies, so with them
// nobody is anonymous.
func anonymousAllowed(opts *server.Options) bool {
	return !verifiesClientCerts(opts) && (opts.NoAuthUser != "" || !asksCredentials(opts))
}

// checkExposure refuses a client listener beyond loopback that lets anyone
// in, unless insecure. It looks at the client listener only: the websocket,
// leafnode, MQTT, cluster and monitoring listeners a configuration file may
// open are that file's business.
func checkExposure(opts *server.Options, insecure bool) error {
	if insecure || isLoopback(opts.Host) || !anonymousAllowed(opts) {
		return nil
	}
	return &OpenListenerError{Addr: net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)), NoAuthUser: opts.NoAuthUser}
}

// isLoopback reports whether host can only be reached from this machine:
// 127.0.0.0/8, ::1 or localhost. Other names are not resolved (what they
// resolve to can change); "" and 0.0.0.0 mean every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
