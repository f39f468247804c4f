package main

import (
	"bytes"
	"fmt"
	"strings"
)

// parseDotenv parses the contents of a .env file into a map of variables.
//
// The format is the common subset understood by Node's dotenv and by shells:
//
//	# a comment line
//	KEY=value            unquoted; trailing blanks trimmed; " #" starts a comment
//	export KEY=value     the export keyword is ignored
//	KEY='literal'        single quotes: no escapes, may span lines
//	KEY="a\nb"           double quotes: \n \r \t \\ \" escapes, may span lines
//	KEY=                 an empty value
//
// Values are taken literally: there is no ${VAR} expansion, because a .env
// file that silently depends on the environment is hard to review. A later
// assignment of the same key wins. Errors name the 1-based line.
func parseDotenv(data []byte) (map[string]string, error) {
	variables := make(map[string]string)
	scanner := dotenvScanner{data: data, line: 1}
	for {
		scanner.skipBlankAndCommentLines()
		if scanner.done() {
			return variables, nil
		}
		key, value, err := scanner.assignment()
		if err != nil {
			return nil, err
		}
		variables[key] = value
	}
}

// dotenvScanner walks the file byte by byte; quoted values may hold newlines,
// so the file cannot simply be split into lines first.
type dotenvScanner struct {
	data     []byte
	position int
	line     int
}

func (s *dotenvScanner) done() bool { return s.position >= len(s.data) }

func (s *dotenvScanner) peek() byte { return s.data[s.position] }

func (s *dotenvScanner) errorf(format string, arguments ...any) error {
	return fmt.Errorf("dotenv: line %d: %s", s.line, fmt.Sprintf(format, arguments...))
}

// skipBlanks skips spaces and tabs, never newlines.
func (s *dotenvScanner) skipBlanks() {
	for !s.done() && (s.peek() == ' ' || s.peek() == '\t') {
		s.position++
	}
}

// skipToEndOfLine moves past the next newline, or to the end of the data.
func (s *dotenvScanner) skipToEndOfLine() {
	newline := bytes.IndexByte(s.data[s.position:], '\n')
	if newline < 0 {
		s.position = len(s.data)
		return
	}
	s.position += newline + 1
	s.line++
}

func (s *dotenvScanner) skipBlankAndCommentLines() {
	for !s.done() {
		s.skipBlanks()
		if s.done() {
			return
		}
		switch s.peek() {
		case '\n', '#':
			s.skipToEndOfLine()
		case '\r':
			// A lone carriage return, or the first half of a CRLF line end.
			s.position++
		default:
			return
		}
	}
}

// assignment reads one KEY=VALUE statement and the rest of its line.
func (s *dotenvScanner) assignment() (string, string, error) {
	key := s.key()
	if key == "export" && !s.done() && (s.peek() == ' ' || s.peek() == '\t') {
		s.skipBlanks()
		key = s.key()
	}
	if key == "" {
		return "", "", s.errorf("expected a variable name (letters, digits, '_'), found %q", s.restOfLine())
	}
	s.skipBlanks()
	if s.done() || s.peek() != '=' {
		return "", "", s.errorf("expected '=' after %s", key)
	}
	s.position++
	s.skipBlanks()
	if s.done() {
		return key, "", nil
	}
	var value string
	var err error
	switch s.peek() {
	case '"':
		value, err = s.doubleQuoted()
	case '\'':
		value, err = s.singleQuoted()
	default:
		return key, s.unquoted(), nil
	}
	if err != nil {
		return "", "", err
	}
	// After a closing quote only blanks and a comment may follow.
	s.skipBlanks()
	if !s.done() && s.peek() != '\n' && s.peek() != '\r' && s.peek() != '#' {
		return "", "", s.errorf("unexpected %q after the quoted value of %s", s.restOfLine(), key)
	}
	s.skipToEndOfLine()
	return key, value, nil
}

// key reads [A-Za-z_][A-Za-z0-9_]*, the names a POSIX shell accepts.
func (s *dotenvScanner) key() string {
	start := s.position
	for !s.done() {
		c := s.peek()
		isLetter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		isDigit := c >= '0' && c <= '9'
		if !isLetter && !(isDigit && s.position > start) {
			break
		}
		s.position++
	}
	return string(s.data[start:s.position])
}

// restOfLine returns the text up to the end of the line, for error messages.
func (s *dotenvScanner) restOfLine() string {
	rest := s.data[s.position:]
	if newline := bytes.IndexByte(rest, '\n'); newline >= 0 {
		rest = rest[:newline]
	}
	const maximum = 40
	if len(rest) > maximum {
		rest = rest[:maximum]
	}
	return strings.TrimRight(string(rest), "\r")
}

// unquoted reads to the end of the line. A '#' starts a comment only after a
// blank, so that values such as colour codes or URL fragments survive.
func (s *dotenvScanner) unquoted() string {
	start := s.position
	end := len(s.data)
	for index := start; index < len(s.data); index++ {
		c := s.data[index]
		if c == '\n' {
			end = index
			break
		}
		if c == '#' && index > 0 && (s.data[index-1] == ' ' || s.data[index-1] == '\t') {
			end = index
			break
		}
	}
	value := strings.TrimRight(string(s.data[start:end]), " \t\r")
	s.position = end
	s.skipToEndOfLine()
	return value
}

func (s *dotenvScanner) singleQuoted() (string, error) {
	openingLine := s.line
	s.position++
	closing := bytes.IndexByte(s.data[s.position:], '\'')
	if closing < 0 {
		s.line = openingLine
		return "", s.errorf("unterminated single-quoted value")
	}
	value := s.data[s.position : s.position+closing]
	s.line += bytes.Count(value, []byte{'\n'})
	s.position += closing + 1
	return string(value), nil
}

func (s *dotenvScanner) doubleQuoted() (string, error) {
	openingLine := s.line
	s.position++
	var value strings.Builder
	for !s.done() {
		c := s.peek()
		s.position++
		switch c {
		case '"':
			return value.String(), nil
		case '\n':
			s.line++
			value.WriteByte(c)
		case '\\':
			if s.done() {
				continue
			}
			escaped := s.peek()
			s.position++
			switch escaped {
			case 'n':
				value.WriteByte('\n')
			case 'r':
				value.WriteByte('\r')
			case 't':
				value.WriteByte('\t')
			case '\\', '"':
				value.WriteByte(escaped)
			default:
				// Unknown escapes stay as written, as in dotenv, so Windows
				// paths and regular expressions need no doubling.
				value.WriteByte('\\')
				s.position--
			}
		default:
			value.WriteByte(c)
		}
	}
	s.line = openingLine
	return "", s.errorf("unterminated double-quoted value")
}
