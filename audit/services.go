package audit

// services names well-known destination ports, for advice that names the
// service (audit.md: pooling or keep-alive first).
var services = map[int]string{
	80: "http", 443: "https", 8080: "http", 8443: "https",
	5432: "postgresql", 3306: "mysql", 1521: "oracle", 1433: "sqlserver",
	6379: "redis", 11211: "memcached", 27017: "mongodb", 9042: "cassandra",
	5672: "amqp", 9092: "kafka", 53: "dns",
	389: "ldap", 636: "ldaps", 88: "kerberos", 445: "smb", 135: "msrpc",
}

func service(port int) string { return services[port] }

// poolingAdvice says how to open fewer connections to a service.
func poolingAdvice(svc string) string {
	switch svc {
	case "postgresql":
		return "a connection pool in the application, or a pooler such as pgbouncer"
	case "mysql":
		return "a connection pool in the application, or ProxySQL"
	case "oracle":
		return "a connection pool (the driver's, or DRCP)"
	case "sqlserver":
		return "connection pooling in the client driver (on by default in ADO.NET: check it is not disabled)"
	case "redis", "memcached", "mongodb", "cassandra", "amqp", "kafka":
		return "one long-lived client with a connection pool instead of a connection per request"
	case "http", "https":
		return "HTTP keep-alive (persistent connections) in the client"
	case "ldap", "ldaps", "kerberos", "smb", "msrpc":
		return "Windows domain traffic: look for a service authenticating or mapping a share per request"
	case "dns":
		return "a local caching resolver"
	}
	return "pooling or keep-alive in the client, instead of a connection per request"
}
