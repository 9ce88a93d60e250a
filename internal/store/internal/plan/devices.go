package plan

import (
	"bytes"
	"fmt"

	"github.com/wardchat/ward/internal/store"
)

// DiffDevices compares the devices currently registered with those a new
// device list names. It returns the devices to add and the ids to remove.
// A device id present in both with different keys is an error wrapping
// store.ErrConflict: device ids are never reused for new keys.
func DiffDevices(current, next []store.DeviceKeys) (add []store.DeviceKeys, remove []store.DeviceID, err error) {
	cur := make(map[store.DeviceID]store.DeviceKeys, len(current))
	for _, d := range current {
		cur[d.ID] = d
	}
	named := make(map[store.DeviceID]bool, len(next))
	for _, d := range next {
		named[d.ID] = true
		old, ok := cur[d.ID]
		if !ok {
			add = append(add, d)
			continue
		}
		if !bytes.Equal(old.SigningKey, d.SigningKey) || !bytes.Equal(old.IdentityKey, d.IdentityKey) {
			return nil, nil, fmt.Errorf("%w: device %d already registered with other keys", store.ErrConflict, d.ID)
		}
	}
	for _, d := range current {
		if !named[d.ID] {
			remove = append(remove, d.ID)
		}
	}
	return add, remove, nil
}
