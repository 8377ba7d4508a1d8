package hidden

type secret struct{ X int }

// Wrapper exposes a field of an unexported type.
type Wrapper struct {
	S secret
}
