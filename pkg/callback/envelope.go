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
	if item, ok := envelopeItem(&vs, tree); ok {
		checkItem(&vs, item, "objectData[0]")
	}
	return vs.err()
}

// CheckEnvelopeWith checks a callback body as Adobe receives it with the
// rules PrepareWith applies to a producer's result, so that both ends of a
// callback agree. Unlike a producer's result, the body must carry every ID
// itself, as a JSON integer matching the execution request. Paths start at
// "objectData[0]".
//
// exec may be nil: IDs are then checked for presence and form only, and the
// entity type is the definition's. def may be nil: fields, attributes and
// accessorValues are then left unchecked. With both nil it is CheckEnvelope.
func CheckEnvelopeWith(body []byte, exec *ExecutionRequest, def *ServiceDefinition) error {
	if exec == nil && def == nil {
		return CheckEnvelope(body)
	}
	tree, err := decodeTree(body)
	if err != nil {
		return err
	}
	var vs Violations
	c := newItemCheck(exec, def, &vs, true)
	raw, ok := envelopeItem(&vs, tree)
	if !ok {
		return vs.err()
	}
	const path = "objectData[0]"
	if item, isObj := raw.(map[string]any); isObj {
		c.item(item, path)
	} else {
		vs.add(path, CodeType, "must be an object")
	}
	return vs.err()
}

// envelopeItem checks the envelope around a callback's single objectData
// item and returns the item.
func envelopeItem(vs *Violations, tree any) (any, bool) {
	root, ok := tree.(map[string]any)
	if !ok {
		vs.add("$", CodeType, "must be a JSON object")
		return nil, false
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
		return nil, false
	case !ok:
		vs.add("objectData", CodeType, "must be an array")
		return nil, false
	case len(items) != 1:
		vs.add("objectData", CodeOutOfRange, "must hold exactly one item, got %d", len(items))
		return nil, false
	}
	return items[0], true
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
