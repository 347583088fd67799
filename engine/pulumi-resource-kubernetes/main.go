// The Kubernetes provider plugin, built by scripts/setup from the provider's Go module.
//
// The upstream command embeds two files that only its own build generates (the schema with the version set,
// and the terraform mapping, both re-marshalled compactly), so it does not build from the module cache. This
// wrapper embeds the same two files, which scripts/setup writes beside it from the module's committed data
// files, and serves the provider with them.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
