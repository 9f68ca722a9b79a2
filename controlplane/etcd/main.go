// Command etcd is etcd's server, built from the version Kubernetes pins, for the e2e suite.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
