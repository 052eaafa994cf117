package main

import (
	"fmt"
	"log/slog"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/envconfig"
	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

const summary = "adobesim plays Adobe for local runs: the IMS token endpoint " +
	"(POST /ims/token/v3)\nand the AJO B2B callback endpoint (POST /callback/...), " +
	"with fault rules and /sim/ controls."

// settings is everything the command reads from its environment.
type settings struct {
	listen string
	level  slog.Level
	sim    adobesim.Config
}

// readSettings reads every variable, so that --help can list them all even
// when some are bad; the Reader holds the problems.
func readSettings(lookup func(string) (string, bool)) (settings, *envconfig.Reader) {
	env := envconfig.New(lookup)
	var st settings
	st.listen = env.String("SIM_LISTEN", "127.0.0.1:8089",
		"address to listen on; port 0 picks a free port")
	st.sim.ClientID = env.String("SIM_CLIENT_ID", adobesim.DefaultClientID,
		"client_id the token endpoint accepts")
	st.sim.ClientSecrets = envconfig.SplitList(env.Secret("SIM_CLIENT_SECRETS",
		"client secrets accepted, comma-separated; "+adobesim.DefaultClientSecret+" when unset"))
	clients := env.Secret("SIM_CLIENTS",
		"more clients besides SIM_CLIENT_ID, each with its own tokens: a JSON file of "+
			"[{clientId,clientSecrets,orgIds}], or id=secret,secret/org,org;id=secret")
	st.sim.APIKey = env.String("SIM_API_KEY", "",
		"X-Api-Key every callback must carry; when unset, the client id of its bearer "+
			"token's client")
	st.sim.OrgID = env.String("SIM_ORG_ID", "",
		"x-gw-ims-org-id callbacks must carry; any when unset")
	st.sim.TokenLifetime = env.Duration("SIM_TOKEN_LIFETIME", adobesim.DefaultTokenLifetime,
		"lifetime and expires_in of minted tokens")
	rules := env.String("SIM_RULES", "",
		"fault rules: a JSON file of [{match,script}], or match=script;match=script")
	keep := env.Int("SIM_KEEP_BODIES", adobesim.DefaultKeepBodies, 0,
		"how many recent callbacks keep their body; 0 keeps none")
	defsDir := env.String("SIM_SERVICE_DEFINITIONS", "",
		"directory of service definitions callbacks are checked against, as the producer does")
	level := env.String("LOG_LEVEL", "info", "debug, info, warn or error")

	var err error
	if defsDir != "" {
		if st.sim.Definitions, err = callback.LoadServiceDefinitions(defsDir); err != nil {
			env.Fail("SIM_SERVICE_DEFINITIONS", "%v", err)
		}
	}
	if st.sim.Rules, err = adobesim.LoadRules(rules); err != nil {
		env.Fail("SIM_RULES", "%v", err)
	}
	if st.sim.Clients, err = adobesim.LoadClients(clients); err != nil {
		env.Fail("SIM_CLIENTS", "%v", err)
	}
	st.sim.KeepBodies = keep
	if keep == 0 {
		st.sim.KeepBodies = -1
	}
	if err := st.level.UnmarshalText([]byte(level)); err != nil {
		env.Fail("LOG_LEVEL", "%q is not debug, info, warn or error", level)
	}
	return st, env
}

// parseArgs reports whether help was asked for. The command takes no
// other arguments.
func parseArgs(args []string) (help bool, err error) {
	for _, arg := range args {
		switch arg {
		case "-h", "-help", "--help":
			return true, nil
		}
	}
	if len(args) > 0 {
		return false, fmt.Errorf("unexpected argument %q: settings come from the environment",
			args[0])
	}
	return false, nil
}
