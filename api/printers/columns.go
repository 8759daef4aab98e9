package printers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Column names, types, priorities and descriptions follow kube-apiserver's
// printers word for word: they are part of the interface kubectl users see.

var (
	objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()
	nameDoc       = objectMetaDoc["name"]
	ageDoc        = objectMetaDoc["creationTimestamp"]
)

const (
	containersDoc = "Names of each container in the template."
	imagesDoc     = "Images referenced by each container in the template."
)

func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: nameDoc}
}

func ageColumn() metav1.TableColumnDefinition {
	return column("Age", ageDoc)
}

func column(name, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Description: description}
}

func integerColumn(name, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "integer", Description: description}
}

// wide marks a column that kubectl shows only with -o wide.
func wide(c metav1.TableColumnDefinition) metav1.TableColumnDefinition {
	c.Priority = 1
	return c
}

// defaultColumns serve kinds without a printer of their own.
var defaultColumns = []metav1.TableColumnDefinition{nameColumn(), ageColumn()}

var namespaceColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Status", "The status of the namespace"),
	ageColumn(),
}

var secretColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Type", corev1.Secret{}.SwaggerDoc()["type"]),
	column("Data", corev1.Secret{}.SwaggerDoc()["data"]),
	ageColumn(),
}

var configMapColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Data", corev1.ConfigMap{}.SwaggerDoc()["data"]),
	ageColumn(),
}
