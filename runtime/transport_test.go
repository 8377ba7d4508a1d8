package runtime

import "testing"

func TestMessageCheck(t *testing.T) {
	t.Parallel()
	ok := &Message{ID: "a", Queue: "q", Priority: MaxPriority}
	if err := ok.Check(); err != nil {
		t.Fatalf("valid message: %v", err)
	}
	for name, m := range map[string]*Message{
		"nil":      nil,
		"no queue": {ID: "a"},
		"no ID":    {Queue: "q"},
		"priority": {ID: "a", Queue: "q", Priority: MaxPriority + 1},
		"negative": {ID: "a", Queue: "q", Priority: -1},
	} {
		if err := m.Check(); err == nil {
			t.Errorf("%s: Check accepted %+v", name, m)
		}
	}
}
