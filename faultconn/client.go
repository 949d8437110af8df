package faultconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// WrapClient puts faults on every connection c makes from now on: c's
// Transport dials through the returned Dialer (see Dialer for names,
// partitions and stats), whose Base is the transport's own dial function,
// so the faults sit between the client and whatever the transport dialed
// before. For https, the faults go under TLS: the transport's
// DialTLSContext, if set, is asked for its TLS conn, which must not have
// done its handshake yet, and the handshake runs again over the faulted
// conn with the transport's TLSClientConfig.
//
// It is made for the in-memory client of Go 1.27's
// httptest.NewTestServer (Server.Client()), which it puts under weather
// without a real network, inside a synctest bubble; it works on any
// client whose Transport is an *http.Transport (nil means a clone of
// http.DefaultTransport is installed). Idle connections made before the
// call keep no faults: WrapClient closes them. It fails on any other
// Transport, or when cfg is invalid.
func WrapClient(c *http.Client, cfg Config) (*Dialer, error) {
	if c == nil {
		return nil, errors.New("faultconn: WrapClient: nil *http.Client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("faultconn: WrapClient: the client's Transport is a %T; it must be an *http.Transport", c.Transport)
	}
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	if cfg.Name == "" {
		cfg.Name = "http"
	}
	d := &Dialer{Config: cfg, Base: dial}
	tr.DialContext = d.DialContext
	if dialTLS := tr.DialTLSContext; dialTLS != nil {
		conf := tr.TLSClientConfig
		raw := func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialTLS(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc, ok := c.(*tls.Conn)
			if !ok || tc.ConnectionState().HandshakeComplete {
				c.Close()
				return nil, fmt.Errorf("faultconn: WrapClient: the transport's DialTLSContext returned a %T that did its handshake: faults cannot go under it", c)
			}
			return tc.NetConn(), nil
		}
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.dialWith(ctx, network, addr, raw)
			if err != nil {
				return nil, err
			}
			conf := conf.Clone()
			if conf == nil {
				conf = &tls.Config{}
			}
			if conf.ServerName == "" && !conf.InsecureSkipVerify {
				conf.ServerName, _, _ = net.SplitHostPort(addr)
			}
			return tls.Client(c, conf), nil
		}
	}
	tr.CloseIdleConnections()
	return d, nil
}
