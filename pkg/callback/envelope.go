package callback

// CheckEnvelope checks a callback body as Adobe receives it, without the
// execution request: one objectData item, the success/errorCode/reason
// rule, and the IDs its entity object must carry. It is what a receiver
// (such as the Adobe simulator) can check on its own.
func CheckEnvelope(body []byte) error {
	tree, err := decodeTree(body)
	if err != nil {
		return err
	}
	var vs Violations
	root, ok := tree.(map[string]any)
	if !ok {
		vs.add("$", CodeType, "must be a JSON object")
		return vs
	}
	for _, key := range sortedKeys(root) {
		if key != "objectData" {
			vs.add(key, CodeUnknownProperty, "is not part of a callback envelope")
		}
	}
	items, ok := root["objectData"].([]any)
	switch {
	case root["objectData"] == nil:
		vs.add("objectData", CodeRequired, "is required")
		return vs
	case !ok:
		vs.add("objectData", CodeType, "must be an array")
		return vs
	case len(items) != 1:
		vs.add("objectData", CodeOutOfRange, "must hold exactly one item, got %d", len(items))
		return vs
	}
	checkItem(&vs, items[0], "objectData[0]")
	return vs.err()
}

func checkItem(vs *Violations, raw any, path string) {
	item, ok := raw.(map[string]any)
	if !ok {
		vs.add(path, CodeType, "must be an object")
		return
	}
	if act, ok := item["activityData"].(map[string]any); ok {
		checkActivity(vs, act, jsonPath(path, "activityData"))
	} else {
		vs.add(jsonPath(path, "activityData"), CodeRequired, "is required and must be an object")
	}

	entities := 0
	for _, key := range []string{"leadData", "accountData"} {
		if obj, ok := item[key].(map[string]any); ok {
			entities++
			if _, ok := idFromValue(obj["id"]); !ok {
				vs.add(jsonPath(jsonPath(path, key), "id"), CodeRequired,
					"is required: a string or an integer")
			}
		}
	}
	if list, ok := item["accountPersonData"].([]any); ok {
		entities++
		if len(list) == 0 {
			vs.add(jsonPath(path, "accountPersonData"), CodeEmpty, "must not be empty")
		}
		for i, rel := range list {
			rp := jsonIndex(jsonPath(path, "accountPersonData"), i)
			obj, ok := rel.(map[string]any)
			if !ok {
				vs.add(rp, CodeType, "must be an object")
				continue
			}
			for _, key := range []string{"accountPersonRelId", "accountId", "personId"} {
				if _, ok := idFromValue(obj[key]); !ok {
					vs.add(jsonPath(rp, key), CodeRequired, "is required: a string or an integer")
				}
			}
		}
	}
	if entities == 0 {
		vs.add(path, CodeRequired, "must carry leadData, accountData or accountPersonData")
	}
}
