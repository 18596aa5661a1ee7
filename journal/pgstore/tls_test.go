package pgstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleettune/fleettune/internal/pgtest"
	"github.com/fleettune/fleettune/journal/pgstore"
)

// ca is a self-signed test CA.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// server issues a certificate for ip.
func (c *ca) server(t *testing.T, ip string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	must(t, err)
	kd, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sslmode=verify-full against a server whose certificate a CA of our own
// signed: the CA given works (and the session is encrypted); another CA, or
// a certificate for another address, is refused.
func TestTLSVerifyFull(t *testing.T) {
	pgtest.Shared(t) // skips or fails as the other tests do without PostgreSQL
	good, other := newCA(t, "fleettune test CA"), newCA(t, "some other CA")
	certPEM, keyPEM := good.server(t, "127.0.0.1")
	port := freePort(t)
	c, err := pgtest.Start(pgtest.Options{TLS: true, Port: port, CertPEM: certPEM, KeyPEM: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	dir := t.TempDir()
	goodCA, otherCA := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other.pem")
	must(t, os.WriteFile(goodCA, good.pem, 0o644))
	must(t, os.WriteFile(otherCA, other.pem, 0o644))
	dsn := func(host, root string) string {
		return fmt.Sprintf("postgres://postgres@%s:%d/postgres?sslmode=verify-full&sslrootcert=%s", host, port, root)
	}
	ctx := context.Background()
	if _, _, err := pgstore.Init(ctx, dsn("127.0.0.1", goodCA), nil); err != nil {
		t.Fatalf("Init over verify-full with the right CA: %v", err)
	}
	b, err := pgstore.Open(ctx, dsn("127.0.0.1", goodCA), nil)
	if err != nil {
		t.Fatalf("Open over verify-full with the right CA: %v", err)
	}
	defer b.Close()
	if ssl, err := pgstore.QueryBool(b, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); err != nil || !ssl {
		t.Errorf("the session is not encrypted: %v, %v", ssl, err)
	}
	_, err = pgstore.Open(ctx, dsn("127.0.0.1", otherCA), nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Open with another CA = %v, want a certificate error", err)
	}
	// 127.0.0.2 is loopback too, but not the address the certificate names.
	_, err = pgstore.Open(ctx, dsn("127.0.0.2", goodCA), nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Open of an address the certificate does not name = %v, want a certificate error", err)
	}
}
