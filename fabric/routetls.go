package fabric

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Cluster routes cross the WAN between sites, so with Config.RouteTLS
// they run over mutually authenticated TLS 1.3. There is no certificate
// authority to set up: each node presents a certificate it signs itself
// with its node key, carrying its fleet certificate (signed by the
// operator) in an extension. A peer accepts the connection only if that
// fleet certificate verifies with the operator key, is current, and names
// the very key the TLS handshake proved. A node without a valid fleet
// certificate cannot form a route at all: it never joins the cluster.

// certExtension is the X.509 extension holding the fleet certificate's
// JSON. 2.25.<uuid as an integer> is the arc anyone may use without
// registration (ITU-T X.667); this one is a random UUID whose top 97 bits
// are zero, so that the arc fits the 31 bits Go's X.509 parser reads.
var certExtension = asn1.ObjectIdentifier{2, 25, 1803566915}

// ErrRouteTLS: a route's TLS peer did not present a usable fleet
// certificate.
var ErrRouteTLS = errors.New("fabric: route TLS")

// routeTLS returns the TLS configuration for cluster routes, or an error
// if the node cannot offer one (no certificate, or no operator key to
// judge peers with).
func (n *Node) routeTLS() (*tls.Config, error) {
	if n.cfg.Cert == nil || n.cfg.OperatorKey == nil {
		return nil, fmt.Errorf("%w: route TLS needs the node's fleet certificate and the operator key", ErrRouteTLS)
	}
	leaf, err := routeCertificate(n.cfg.Identity.Private, n.cfg.Cert)
	if err != nil {
		return nil, err
	}
	op, now := n.cfg.OperatorKey, n.cfg.Now
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{leaf},
		ClientAuth:   tls.RequireAnyClientCert,
		// Standard chain verification has nothing to chain to; the peer
		// is verified below, on both sides of every route.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := verifyRoutePeer(raw, op, now())
			return err
		},
	}, nil
}

// routeCertificate makes the node's self-signed TLS certificate, valid
// while its fleet certificate is.
func routeCertificate(priv ed25519.PrivateKey, c *Cert) (tls.Certificate, error) {
	blob, err := c.MarshalJSON()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %v", ErrRouteTLS, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: c.NodeID, Organization: []string{"hearth fleet"}},
		NotBefore:       c.Issued.Add(-time.Minute),
		NotAfter:        c.Expires,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: certExtension, Value: blob}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %v", ErrRouteTLS, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// verifyRoutePeer checks a route peer's TLS certificate: self-signed by
// an ed25519 key (which the handshake proved the peer holds) and carrying
// a fleet certificate for that key that verifies with the operator key at
// now. It returns the fleet certificate.
func verifyRoutePeer(raw [][]byte, operator ed25519.PublicKey, now time.Time) (*Cert, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: the peer presented no certificate", ErrRouteTLS)
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return nil, fmt.Errorf("%w: the peer's certificate does not parse: %v", ErrRouteTLS, err)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the peer's key is %T, not ed25519", ErrRouteTLS, leaf.PublicKey)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		return nil, fmt.Errorf("%w: the peer's certificate is not signed by its own key: %v", ErrRouteTLS, err)
	}
	var blob []byte
	for _, e := range leaf.Extensions {
		if e.Id.Equal(certExtension) {
			blob = e.Value
		}
	}
	if blob == nil {
		return nil, fmt.Errorf("%w: the peer's certificate carries no fleet certificate", ErrRouteTLS)
	}
	c, err := ParseCert(blob)
	if err != nil {
		return nil, fmt.Errorf("%w: the peer's fleet certificate: %v", ErrRouteTLS, err)
	}
	if err := c.Verify(operator, now); err != nil {
		return nil, fmt.Errorf("%w: the peer's fleet certificate: %v", ErrRouteTLS, err)
	}
	if !c.Matches(pub) {
		return nil, fmt.Errorf("%w: the peer's fleet certificate names another key", ErrRouteTLS)
	}
	return c, nil
}
