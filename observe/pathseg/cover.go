package pathseg

// Covers says whether every value of segment c is a value of s: c's
// literal text and parameters, read left to right, can be matched by s's
// parts, each parameter of c only by a part of s whose values include all
// of its own (an {int} by a {hex} or an {alnum} run, any part by
// {param}). It is sound, not complete: when it says yes, no value of c
// escapes s; a few pairs where s does cover c are not recognised, and
// then the two stay separate templates, as before.
func (s Segment) Covers(c Segment) bool {
	// c as a sequence of tokens: one per literal byte, one per parameter.
	var toks []Part
	for _, p := range c {
		if p.Class != Literal {
			toks = append(toks, p)
			continue
		}
		for i := 0; i < len(p.Lit); i++ {
			toks = append(toks, Part{Lit: p.Lit[i : i+1]})
		}
	}
	memo := map[[2]int]bool{}
	var cover func(i, j int) bool // s[i:] covers toks[j:]
	cover = func(i, j int) bool {
		if i == len(s) {
			return j == len(toks)
		}
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		memo[k] = false
		v := coverPart(s[i], toks, j, func(next int) bool { return cover(i+1, next) })
		memo[k] = v
		return v
	}
	return cover(0, 0)
}

// coverPart tries every way part p can match toks from j on, calling
// rest with where the match ends, until rest says yes.
func coverPart(p Part, toks []Part, j int, rest func(int) bool) bool {
	switch p.Class {
	case Literal:
		for n := 0; n < len(p.Lit); n++ {
			if j+n >= len(toks) || toks[j+n].Class != Literal || toks[j+n].Lit[0] != p.Lit[n] {
				return false
			}
		}
		return rest(j + len(p.Lit))
	case Int, Hex, Alnum:
		// A run: literal bytes of its class and parameters whose values
		// are runs of it; with a fixed length, exactly that many bytes.
		n := 0
		for k := j; k < len(toks); k++ {
			t := toks[k]
			switch {
			case t.Class == Literal && runOf(p.Class, t.Lit):
				n++
			case t.Class.Word() && wordWithin(t.Class, p.Class) && (p.Len == 0 || t.Len > 0):
				n += max(t.Len, 1)
			default:
				return false
			}
			if p.Len > 0 && n > p.Len {
				return false
			}
			if (p.Len == 0 || n == p.Len) && rest(k+1) {
				return true
			}
		}
		return false
	case Date, UUID, Email:
		if j < len(toks) && toks[j].Class == p.Class {
			return rest(j + 1)
		}
		return false
	case Any:
		for k := j + 1; k <= len(toks); k++ {
			if rest(k) {
				return true
			}
		}
	}
	return false
}

// wordWithin says whether every run of class a is a run of class b.
func wordWithin(a, b Class) bool {
	return a == b || a == Int && (b == Hex || b == Alnum) || a == Hex && b == Alnum
}

// Overlaps says whether some value is a value of both s and o: a walk of
// the two segments' automata, byte by byte, that reaches both ends at
// once. It is exact.
func (s Segment) Overlaps(o Segment) bool {
	a, b := s.automaton(), o.automaton()
	type pair struct{ x, y int }
	seen := map[pair]bool{{0, 0}: true}
	queue := []pair{{0, 0}}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p.x == a.accept && p.y == b.accept {
			return true
		}
		for _, ea := range a.edges[p.x] {
			for _, eb := range b.edges[p.y] {
				n := pair{ea.to, eb.to}
				if seen[n] || !someByte(ea.in, eb.in) {
					continue
				}
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return false
}

// automaton is a segment as a nondeterministic automaton over bytes:
// state 0 is the start, accept the end.
type automaton struct {
	edges  [][]edge
	accept int
}

type edge struct {
	in func(byte) bool
	to int
}

func someByte(f, g func(byte) bool) bool {
	for c := 0; c < 256; c++ {
		if f(byte(c)) && g(byte(c)) {
			return true
		}
	}
	return false
}

// automaton builds s's automaton part by part.
func (s Segment) automaton() automaton {
	var a automaton
	state := func() int { a.edges = append(a.edges, nil); return len(a.edges) - 1 }
	link := func(from, to int, in func(byte) bool) { a.edges[from] = append(a.edges[from], edge{in, to}) }
	cur := state()
	chain := func(ins ...func(byte) bool) {
		for _, in := range ins {
			next := state()
			link(cur, next, in)
			cur = next
		}
	}
	plus := func(in func(byte) bool) { // one or more
		next := state()
		link(cur, next, in)
		link(next, next, in)
		cur = next
	}
	is := func(b byte) func(byte) bool { return func(c byte) bool { return c == b } }
	digit, hex := isDigit, isHex
	alnum := func(c byte) bool { return isWordByte(c) }
	repeat := func(in func(byte) bool, n int) []func(byte) bool {
		out := make([]func(byte) bool, n)
		for i := range out {
			out[i] = in
		}
		return out
	}
	for _, p := range s {
		switch p.Class {
		case Literal:
			for i := 0; i < len(p.Lit); i++ {
				chain(is(p.Lit[i]))
			}
		case Int, Hex, Alnum:
			in := map[Class]func(byte) bool{Int: digit, Hex: hex, Alnum: alnum}[p.Class]
			if p.Len > 0 {
				chain(repeat(in, p.Len)...)
			} else {
				plus(in)
			}
		case Date:
			chain(append(append(append(append(repeat(digit, 4), is('-')), repeat(digit, 2)...), is('-')), repeat(digit, 2)...)...)
		case UUID:
			for i, n := range []int{8, 4, 4, 4, 12} {
				if i > 0 {
					chain(is('-'))
				}
				chain(repeat(hex, n)...)
			}
		case Email:
			local := func(c byte) bool { return isWordByte(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' }
			label := func(c byte) bool { return isWordByte(c) || c == '-' }
			plus(local)
			chain(is('@'))
			plus(label)
			chain(is('.'))
			dot := cur
			// Another label and its dot, or the last one: two or more
			// letters.
			next := state()
			link(dot, next, label)
			link(next, next, label)
			link(next, dot, is('.'))
			t1, t2 := state(), state()
			link(dot, t1, isLetter)
			link(t1, t2, isLetter)
			link(t2, t2, isLetter)
			cur = t2
		case Any:
			plus(func(c byte) bool { return c != '/' })
		}
	}
	a.accept = cur
	return a
}
