// Package contract holds the parts of the predict.v1 contract (proto/predict/v1) that the Go server
// needs at run time as data: the metadata.json JSON Schema. metadata.schema.json here is a copy that
// `make proto` makes of proto/predict/v1/metadata.schema.json (go:embed cannot reach outside the
// module) and `make check-proto` keeps identical.
package contract

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed metadata.schema.json
var metadataSchema []byte

// schemaURL is the name the schema is compiled under (its $id).
const schemaURL = "urn:servebench:predict:v1:metadata"

var (
	compileOnce sync.Once
	compiled    *jsonschema.Schema
	compileErr  error
)

// CompileMetadataSchema compiles a metadata.json JSON Schema document.
func CompileMetadataSchema(schema []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("metadata schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("metadata schema: %w", err)
	}
	return c.Compile(schemaURL)
}

// ValidateMetadata checks a metadata.json document against the contract's schema; the error is
// one line listing every violation ("/opset: missing", ...).
func ValidateMetadata(raw []byte) error {
	compileOnce.Do(func() { compiled, compileErr = CompileMetadataSchema(metadataSchema) })
	if compileErr != nil {
		return compileErr
	}
	return Validate(compiled, raw)
}

// Validate checks a JSON document against a compiled schema, with a one-line error.
func Validate(schema *jsonschema.Schema, raw []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	err = schema.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	units := ve.BasicOutput().Errors
	var problems []string
	for i, unit := range units {
		if unit.Error == nil || wraps(unit, units[i+1:]) {
			continue // "validation failed", "'allOf' failed": its causes follow
		}
		where := unit.InstanceLocation
		if where == "" {
			where = "/"
		}
		problems = append(problems, where+": "+unit.Error.String())
	}
	sort.Strings(problems)
	if len(problems) == 0 {
		return errors.New(strings.Join(strings.Fields(ve.Error()), " "))
	}
	return errors.New(strings.Join(problems, "; "))
}

// wraps reports whether unit is a parent of a later unit (its keyword location a prefix of theirs).
func wraps(unit jsonschema.OutputUnit, later []jsonschema.OutputUnit) bool {
	for _, other := range later {
		if strings.HasPrefix(other.KeywordLocation, unit.KeywordLocation+"/") {
			return true
		}
	}
	return false
}
